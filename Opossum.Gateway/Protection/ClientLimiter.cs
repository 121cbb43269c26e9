using Microsoft.Extensions.Options;
using Opossum.Grains;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Gateway.Protection;

/// <summary>
/// Applies <see cref="LimitsOptions"/> to a caller through its <see cref="IClientUsageGrain"/>: a chat is admitted
/// (and counted) or refused with RATE_LIMITED before anything else happens; the tokens of a generated answer
/// are added after it.
/// </summary>
public sealed class ClientLimiter(IGrainFactory grains, IOptions<LimitsOptions> options, ILogger<ClientLimiter> logger)
{
    public ClientLimits Limits { get; } = options.Value.ForClients();

    public async Task AdmitAsync(Caller caller)
    {
        if (Limits.ChatsPerMinute is null && Limits.TokensPerDay is null) return;
        var admission = await grains.GetGrain<IClientUsageGrain>(caller.Name).Admit(Limits);
        if (admission.Admitted) return;
        Refuse(caller, "rate_limited");
        var seconds = Math.Max(1, (int)Math.Ceiling(admission.RetryAfter.TotalSeconds));
        throw new OpossumException(ErrorCodes.RateLimited, $"Rate limited: {admission.Refusal}. Retry after {seconds} s.",
            retryAfter: TimeSpan.FromSeconds(seconds));
    }

    /// <summary>Adds what a reply's generation used; a cached answer and one without counts add nothing. Never fails the chat.</summary>
    public async Task AddTokensAsync(Caller caller, bool cached, int? tokens)
    {
        if (cached || tokens is not > 0 || Limits.TokensPerDay is null) return;
        try
        {
            await grains.GetGrain<IClientUsageGrain>(caller.Name).AddTokens(tokens.Value);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "The tokens of a chat by {Client} were not counted", caller.Keyed ? caller.Name : "a client without a key");
        }
    }

    public Task<ClientUsage> UsageAsync(Caller caller) => grains.GetGrain<IClientUsageGrain>(caller.Name).Get();

    /// <summary>Counts a refusal on <c>opossum.requests.refused</c>, with the key's name when the caller has one.</summary>
    public static void Refuse(Caller? caller, string reason)
    {
        if (caller is { Keyed: true })
            Refused.Add(1, new(Tags.RefusalReason, reason), new(Tags.ApiKeyName, caller.Name));
        else
            Refused.Add(1, new KeyValuePair<string, object?>(Tags.RefusalReason, reason));
    }
}
