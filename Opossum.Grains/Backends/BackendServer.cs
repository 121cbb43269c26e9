using Opossum.Grains.Hosting;
namespace Opossum.Grains.Backends;

/// <summary>One server of a backend: where it is and how many generations it runs at once, cluster-wide.</summary>
public sealed record BackendServer(int Index, Uri Url, int Parallelism)
{
    /// <summary>
    /// The servers of a comma-separated URL list and their parallelism: one number for every server, or one
    /// per server in the list's order. Throws <see cref="InvalidOperationException"/> naming the settings.
    /// </summary>
    public static IReadOnlyList<BackendServer> Parse(string urls, string parallelism, string urlSetting, string parallelismSetting)
    {
        var list = urls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (list.Length == 0)
            throw InvalidSetting.Because($"{urlSetting} must be one or more absolute http(s) URLs separated by commas, not '{urls}'.");
        var servers = new List<BackendServer>(list.Length);
        var limits = parallelism.Split(',', StringSplitOptions.TrimEntries);
        if (limits.Length != 1 && limits.Length != list.Length)
            throw InvalidSetting.Because($"{parallelismSetting} must be one number for every server or one per server of {urlSetting} ({list.Length}), not '{parallelism}'.");
        for (var i = 0; i < list.Length; i++)
        {
            if (!Uri.TryCreate(list[i], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                throw InvalidSetting.Because($"{urlSetting} must be one or more absolute http(s) URLs separated by commas; '{list[i]}' is not one.");
            var limit = limits.Length == 1 ? limits[0] : limits[i];
            if (!int.TryParse(limit, out var n) || n < 1)
                throw InvalidSetting.Because($"{parallelismSetting} must be a whole number of at least 1 (or one per server, comma-separated), not '{parallelism}'.");
            servers.Add(new BackendServer(i, url, n));
        }
        if (servers.Select(s => s.Url.ToString()).Distinct(StringComparer.OrdinalIgnoreCase).Count() != servers.Count)
            throw InvalidSetting.Because($"{urlSetting} lists a server more than once: '{urls}'.");
        return servers;
    }
}
