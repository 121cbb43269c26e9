using System.Net;
using System.Security.Cryptography;
using System.Text;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.Gateway.Protection;

/// <summary>
/// Who is calling: a configured key's name, or the client's address when no keys are configured.
/// <see cref="IsAdmin"/>: may run operator actions. <see cref="Keyed"/>: the name is a key's, fit for spans and metrics.
/// </summary>
public sealed record Caller(string Name, bool IsAdmin, bool Keyed)
{
    /// <summary>A client without a key on a gateway that asks for none; limits count it by its address.</summary>
    public static Caller Anonymous(IPAddress? address, bool isAdmin) =>
        new("ip:" + (address is null ? "unknown" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString()), isAdmin, Keyed: false);
}

/// <summary>
/// The client keys (<c>OPOSSUM_API_KEYS</c>) and operator keys (<c>OPOSSUM_ADMIN_KEYS</c>): comma-separated,
/// each <c>name:key</c> or just <c>key</c> (named <c>key-</c> and the first 8 hex digits of its SHA-256).
/// Only digests are kept, and a presented key is compared with every one of them in constant time, so the
/// time of a refusal says nothing about how close a guess was. Read at start-up: a changed key takes a restart
/// (docs/operations.md, "Keys and limits").
/// </summary>
public sealed class ApiKeys
{
    public const string ClientKeysSetting = "Opossum:ApiKeys";
    public const string AdminKeysSetting = "Opossum:AdminKeys";

    /// <summary>The <c>WWW-Authenticate</c> challenge of a refused request (RFC 6750).</summary>
    public const string Challenge = "Bearer realm=\"opossum\"";

    private readonly Key[] _keys;

    private sealed record Key(string Name, byte[] Digest, bool Admin);

    private ApiKeys(Key[] keys, bool required)
    {
        _keys = keys;
        Required = required;
    }

    /// <summary>Client keys are configured: every <c>/graphql</c> request needs a key.</summary>
    public bool Required { get; }

    /// <summary>Any key is configured: operator actions need an admin key (with client keys and no admin key, nobody may).</summary>
    public bool Configured => _keys.Length > 0;

    public static ApiKeys From(IConfiguration configuration)
    {
        var clients = Parse(configuration[ClientKeysSetting], ClientKeysSetting, admin: false);
        var admins = Parse(configuration[AdminKeysSetting], AdminKeysSetting, admin: true);
        var all = clients.Concat(admins).ToArray();
        // One name may have several keys of one kind (a rotation: its conversations and counts stay with the name), never both kinds.
        var duplicate = all.GroupBy(k => k.Name).FirstOrDefault(g => g.Select(k => k.Admin).Distinct().Count() > 1);
        if (duplicate is not null)
            throw SettingsCheck.Invalid($"{OpossumEnvironment.SettingName(ClientKeysSetting)} / {OpossumEnvironment.SettingName(AdminKeysSetting)}: the name '{duplicate.Key}' is given to two different keys.");
        return new ApiKeys(all, clients.Count > 0);
    }

    private static List<Key> Parse(string? text, string setting, bool admin)
    {
        var keys = new List<Key>();
        if (string.IsNullOrWhiteSpace(text)) return keys;
        foreach (var entry in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = entry.IndexOf(':');
            var name = colon < 0 ? null : entry[..colon].Trim();
            var secret = colon < 0 ? entry : entry[(colon + 1)..].Trim();
            if (secret.Length == 0 || name is { Length: 0 })
                throw SettingsCheck.Invalid($"{OpossumEnvironment.SettingName(setting)} must be keys separated by commas, each 'name:key' or 'key'; an entry has an empty {(secret.Length == 0 ? "key" : "name")}.");
            var digest = Digest(secret);
            keys.Add(new Key(name ?? "key-" + Convert.ToHexStringLower(digest)[..8], digest, admin));
        }
        return keys;
    }

    /// <summary>The caller of an HTTP request by its <c>Authorization: Bearer</c> header; null when it must be refused (with why).</summary>
    public Caller? Authenticate(HttpContext context, out string? problem) =>
        Authenticate(context.Request.Headers.Authorization.ToString(), context.Connection.RemoteIpAddress, out problem);

    /// <summary>
    /// The caller presenting <paramref name="authorization"/> (an <c>Authorization</c> value, or empty for none).
    /// Without configured keys a presented one is ignored; with them, an unknown one is refused, and no key is
    /// refused only when client keys are required.
    /// </summary>
    public Caller? Authenticate(string? authorization, IPAddress? address, out string? problem)
    {
        problem = null;
        if (!Configured)
            return Caller.Anonymous(address, isAdmin: true);
        if (string.IsNullOrWhiteSpace(authorization))
        {
            if (!Required)
                return Caller.Anonymous(address, isAdmin: false);
            problem = "This server needs an API key: send it as 'Authorization: Bearer <key>'.";
            return null;
        }
        const string Bearer = "Bearer ";
        if (!authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) || authorization.Length == Bearer.Length)
        {
            problem = "The Authorization header must be 'Bearer <key>'.";
            return null;
        }
        var found = Find(authorization[Bearer.Length..].Trim());
        if (found is null)
            problem = "The API key is not valid.";
        return found;
    }

    private Caller? Find(string presented)
    {
        var digest = Digest(presented);
        Key? found = null;
        foreach (var key in _keys) // every key, to the end: no early exit
        {
            if (CryptographicOperations.FixedTimeEquals(digest, key.Digest))
                found ??= key;
        }
        return found is null ? null : new Caller(found.Name, found.Admin, Keyed: true);
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
