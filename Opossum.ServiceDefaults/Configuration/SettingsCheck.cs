using System.Collections;
using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Opossum.ServiceDefaults.Configuration;

/// <summary>
/// Checks, before anything binds them, that the values set for the options a process binds convert to
/// their types, and names each one that does not with the form it takes: an operator's typo is one line
/// (an <see cref="OptionsValidationException"/>), not the configuration binder's exception deep in start-up.
/// </summary>
public static class SettingsCheck
{
    /// <summary>A refusal of settings, in the typed form <c>StartupGuard</c> reports.</summary>
    public static OptionsValidationException Invalid(params string[] problems) => new(Options.DefaultName, typeof(IConfiguration), problems);

    /// <summary>Throws naming every value under <paramref name="sections"/> that does not convert to its property's type.</summary>
    public static void Ensure(IConfiguration configuration, IEnumerable<(string Section, Type Type)> sections)
    {
        var problems = new List<string>();
        foreach (var (path, type) in sections)
        {
            var section = configuration.GetSection(path);
            if (IsValue(type))
            {
                if (section.Value is { Length: > 0 } value && !Converts(Nullable.GetUnderlyingType(type) ?? type, value))
                    problems.Add($"{OpossumEnvironment.SettingName(section.Path)} must be {Form(Nullable.GetUnderlyingType(type) ?? type)}, not '{value}'.");
            }
            else if (IsList(type, out var item))
            {
                foreach (var entry in section.GetChildren())
                    Check(entry, item, problems);
            }
            else
            {
                Check(section, type, problems);
            }
        }
        if (problems.Count > 0)
            throw Invalid([.. problems]);
    }

    private static void Check(IConfigurationSection section, Type type, List<string> problems)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
        {
            var child = section.GetSection(property.Name);
            var target = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (child.Value is { Length: > 0 } value)
            {
                if (target != typeof(string) && !Converts(target, value))
                    problems.Add($"{OpossumEnvironment.SettingName(child.Path)} must be {Form(target)}, not '{value}'.");
            }
            else if (target.IsClass && target != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(target) && child.GetChildren().Any())
            {
                Check(child, target, problems);
            }
        }
    }

    private static bool Converts(Type type, string value)
    {
        var converter = TypeDescriptor.GetConverter(type);
        if (!converter.CanConvertFrom(typeof(string))) return true; // not ours to judge: the binder decides
        try
        {
            converter.ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException or OverflowException)
        {
            return false;
        }
    }

    private static bool IsValue(Type type) => (Nullable.GetUnderlyingType(type) ?? type) is var t && (t.IsPrimitive || t.IsEnum || t == typeof(TimeSpan) || t == typeof(Uri));

    private static bool IsList(Type type, out Type item)
    {
        item = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0] : type;
        return item != type;
    }

    private static string Form(Type type) => type switch
    {
        _ when type == typeof(TimeSpan) => "a duration such as 00:01:30",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(Uri) => "an absolute URL",
        _ when type == typeof(Guid) => "a GUID",
        _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) => "a date and time such as 2025-01-31T12:00:00Z",
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
        _ when type.IsPrimitive => "a whole number",
        _ => $"a {type.Name}",
    };
}
