using System.Text.RegularExpressions;

namespace Opossum.ServiceDefaults.Configuration;

/// <summary>
/// The configuration binder's conversion failures in an operator's words: the setting (with its
/// documented variable), the form it takes and the value given, for any key and any type.
/// </summary>
public static partial class BindingFailures
{
    /// <summary>One line for a value the binder could not convert; null for any other exception.</summary>
    public static string? Describe(Exception exception)
    {
        if (exception is not InvalidOperationException || Failure().Match(exception.Message) is not { Success: true } failure)
            return null;
        var given = failure.Groups["value"].Success ? $", not '{failure.Groups["value"].Value}'" : "";
        return $"{OpossumEnvironment.SettingName(failure.Groups["key"].Value)} must be {Form(failure.Groups["type"].Value)}{given}.";
    }

    private static string Form(string typeName) => typeName switch
    {
        "System.TimeSpan" => "a duration such as 00:01:30",
        "System.Int32" or "System.Int64" or "System.Int16" or "System.UInt32" or "System.UInt64" or "System.UInt16" or "System.Byte" or "System.SByte" => "a whole number",
        "System.Double" or "System.Single" or "System.Decimal" => "a number",
        "System.Boolean" => "true or false",
        "System.Uri" => "an absolute URL",
        "System.Guid" => "a GUID",
        "System.DateTime" or "System.DateTimeOffset" => "a date and time such as 2025-01-31T12:00:00Z",
        _ when EnumType(typeName) is { } type => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ => $"a {typeName.Split('.', '+')[^1]}",
    };

    private static Type? EnumType(string typeName) =>
        AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(typeName)).FirstOrDefault(t => t is { IsEnum: true });

    // Microsoft.Extensions.Configuration.Binder's message; its source-generated binder leaves out the value.
    [GeneratedRegex(@"^Failed to convert configuration value (?:'(?<value>.*)' )?at '(?<key>[^']+)' to type '(?:System\.Nullable`1\[)?(?<type>[^'\[\],]+)\]?'\.$", RegexOptions.Singleline)]
    private static partial Regex Failure();
}
