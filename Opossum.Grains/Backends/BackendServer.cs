using Opossum.ServiceDefaults.Configuration;
using Opossum.Grains.Hosting;
namespace Opossum.Grains.Backends;

/// <summary>One server of a backend: where it is and how many generations it runs at once, cluster-wide.</summary>
public sealed record BackendServer(int Index, Uri Url, int Parallelism)
{
    /// <summary>
    /// The servers of a comma-separated URL list and their parallelism: one number for every server, or one
    /// per server in the list's order. Settings that describe no servers are refused, naming them.
    /// </summary>
    public static IReadOnlyList<BackendServer> Parse(string urls, string parallelism, string urlSetting, string parallelismSetting) =>
        Problem(urls, parallelism, urlSetting, parallelismSetting, out var servers) is { } problem ? throw SettingsCheck.Invalid(problem) : servers;

    /// <summary>What is wrong with the settings, naming them; null when they describe <paramref name="servers"/>.</summary>
    public static string? Problem(string urls, string parallelism, string urlSetting, string parallelismSetting, out IReadOnlyList<BackendServer> servers)
    {
        servers = [];
        var list = urls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (list.Length == 0)
            return $"{urlSetting} must be one or more absolute http(s) URLs separated by commas, not '{urls}'.";
        var found = new List<BackendServer>(list.Length);
        var limits = parallelism.Split(',', StringSplitOptions.TrimEntries);
        if (limits.Length != 1 && limits.Length != list.Length)
            return $"{parallelismSetting} must be one number for every server or one per server of {urlSetting} ({list.Length}), not '{parallelism}'.";
        for (var i = 0; i < list.Length; i++)
        {
            if (!Uri.TryCreate(list[i], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                return $"{urlSetting} must be one or more absolute http(s) URLs separated by commas; '{list[i]}' is not one.";
            var limit = limits.Length == 1 ? limits[0] : limits[i];
            if (!int.TryParse(limit, out var n) || n < 1)
                return $"{parallelismSetting} must be a whole number of at least 1 (or one per server, comma-separated), not '{parallelism}'.";
            found.Add(new BackendServer(i, url, n));
        }
        if (found.Select(s => s.Url.ToString()).Distinct(StringComparer.OrdinalIgnoreCase).Count() != found.Count)
            return $"{urlSetting} lists a server more than once: '{urls}'.";
        servers = found;
        return null;
    }
}
