using System.Collections;
using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Opossum.ServiceDefaults.Configuration;

/// <summary>
/// Checks, before anything binds them, that every key set under Opossum's sections is a setting and that the
/// values set for the options a process binds convert to their types; names each key that is not (with the
/// closest one) and each value that does not (with the form it takes): an operator's typo is one line
/// (an <see cref="OptionsValidationException"/>), not a setting silently ignored or the binder's exception deep in start-up.
/// </summary>
public static class SettingsCheck
{
    /// <summary>A refusal of settings, in the typed form <c>StartupGuard</c> reports.</summary>
    public static OptionsValidationException Invalid(params string[] problems) => new(Options.DefaultName, typeof(IConfiguration), problems);

    /// <summary>
    /// Throws naming every key set under a section Opossum owns that is no setting of <paramref name="sections"/> or
    /// <see cref="KnownSettings"/> (with the closest one), and every value under <paramref name="sections"/> that
    /// does not convert to its property's type.
    /// </summary>
    public static void Ensure(IConfiguration configuration, IReadOnlyList<(string Section, Type Type)> sections)
    {
        var problems = UnknownKeys(configuration, sections).ToList();
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

    /// <summary>Keys set under an owned section that match none of the process's settings; the gateway's own sections pass a silo unread.</summary>
    private static IEnumerable<string> UnknownKeys(IConfiguration configuration, IReadOnlyList<(string Section, Type Type)> sections)
    {
        var known = sections.Where(s => IsOwned(s.Section)).SelectMany(s => KeysOf(s.Section, s.Type)).Concat(KnownSettings.ReadByName).ToList();
        var unread = KnownSettings.GatewaySections.Where(g => !sections.Any(s => s.Section.Equals(g, StringComparison.OrdinalIgnoreCase))).ToList();
        return KnownSettings.OwnedSections
            .SelectMany(root => configuration.GetSection(root).AsEnumerable())
            .Where(setting => setting.Value is { Length: > 0 })
            .Select(setting => setting.Key)
            .Where(key => !known.Any(k => Matches(k, key)) && !unread.Any(u => key.StartsWith(u + ":", StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.OrdinalIgnoreCase)
            .Select(key => $"unknown setting {key}; did you mean {OpossumEnvironment.SettingName(Closest(key, known))}?");
    }

    private static bool IsOwned(string section) =>
        KnownSettings.OwnedSections.Any(root => section.Equals(root, StringComparison.OrdinalIgnoreCase) || section.StartsWith(root + ":", StringComparison.OrdinalIgnoreCase));

    /// <summary>The keys a type binds under <paramref name="path"/>, down through nested types and collections; <c>*</c> for an index or dictionary key.</summary>
    private static IEnumerable<string> KeysOf(string path, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string) || TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string)))
            return [path];
        if (ItemType(type) is { } item)
            return KeysOf(path + ":*", item);
        return type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.SetMethod?.IsPublic == true)
            .SelectMany(p => KeysOf($"{path}:{p.Name}", p.PropertyType));
    }

    /// <summary>What an array, list, set or dictionary (by its values) holds; null for anything else.</summary>
    private static Type? ItemType(Type type)
    {
        if (type.IsArray)
            return type.GetElementType();
        var generic = type.GetInterfaces().Append(type).Where(i => i.IsGenericType).ToList();
        var dictionary = generic.FirstOrDefault(i => i.GetGenericTypeDefinition() is var d && (d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>)));
        return dictionary?.GetGenericArguments()[1] ?? generic.FirstOrDefault(i => i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    private static bool Matches(string known, string key)
    {
        var (pattern, segments) = (known.Split(':'), key.Split(':'));
        return pattern.Length == segments.Length &&
            pattern.Zip(segments).All(p => p.First == "*" || p.First.Equals(p.Second, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The known key nearest to <paramref name="key"/>, whole or by its last segment: a setting put under the
    /// wrong section counts as one edit more than its name's.
    /// </summary>
    private static string Closest(string key, IEnumerable<string> known)
    {
        var segments = key.Split(':');
        return known
            .Select(k => string.Join(':', k.Split(':').Select((s, i) => s != "*" ? s : i < segments.Length ? segments[i] : "0")))
            .OrderBy(k => Math.Min(Distance(key, k), Distance(segments[^1], k.Split(':')[^1]) + 1))
            .ThenBy(k => Distance(key, k))
            .First();
    }

    /// <summary>Levenshtein distance, ignoring case as configuration keys do.</summary>
    private static int Distance(string a, string b)
    {
        (a, b) = (a.ToLowerInvariant(), b.ToLowerInvariant());
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
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
