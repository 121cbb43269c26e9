using Opossum.Grains;

namespace Opossum.Gateway.Protection;

/// <summary>
/// What of a backend's availability a caller may see. Operators (admin keys, or everyone on a gateway without keys)
/// see it all; a client key sees states and reasons in words: servers by position instead of their internal URLs,
/// and a failure's kind instead of the backend's raw error text (which can carry hosts, paths and model output).
/// </summary>
public static class OperatorDetail
{
    public static ServiceHealth For(Caller caller, ServiceHealth health) =>
        caller.IsAdmin ? health : health with
        {
            LastError = InWords(health.LastError),
            Servers = health.Servers?.Select((server, i) => server with { Url = $"{health.Name} server {i + 1}", LastError = InWords(server.LastError) }).ToList(),
        };

    /// <summary>Refuses (FORBIDDEN) what only operators may do or read: <paramref name="what"/> says what it was.</summary>
    public static void Require(Caller caller, string what)
    {
        if (Refusal(caller, what) is { } refusal)
            throw new OpossumException(ErrorCodes.Forbidden, refusal);
    }

    /// <summary>Why <paramref name="caller"/> may not do <paramref name="what"/> (counted as a refusal), or null when it may.</summary>
    public static string? Refusal(Caller caller, string what)
    {
        if (caller.IsAdmin) return null;
        ClientLimiter.Refuse(caller, "forbidden");
        return $"{what} is for operators: it needs an admin key (OPOSSUM_ADMIN_KEYS).";
    }

    /// <summary>The kind of a recorded failure, in words that name nothing internal.</summary>
    public static string? InWords(string? lastError) => lastError switch
    {
        null => null,
        _ when lastError.Contains("GEMINI_API_KEY is not set", StringComparison.Ordinal) => "disabled: not configured on this server",
        _ when lastError.StartsWith("disabled", StringComparison.Ordinal) => "disabled on this server",
        _ when lastError.Contains("rate-limit", StringComparison.Ordinal) => "rate-limited by the backend",
        _ when lastError.Contains("unreachable", StringComparison.Ordinal) => "unreachable",
        _ when lastError.Contains("no answer within", StringComparison.Ordinal) => "too slow: no answer in time",
        _ when lastError.Contains("HTTP 5", StringComparison.Ordinal) => "the backend answered with a server error",
        _ when lastError.Contains("HTTP 4", StringComparison.Ordinal) => "the backend refused the request",
        _ when lastError.Contains("not valid JSON", StringComparison.Ordinal) => "the backend's answer could not be read",
        _ => "failing",
    };
}
