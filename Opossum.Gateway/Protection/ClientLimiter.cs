using Microsoft.Extensions.Options;
using Opossum.Grains;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Gateway.Protection;

/// <summary>
/// Applies <see cref="LimitsOptions"/> to a caller through its <see cref="IClientUsageGrain"/>: a chat is admitted
/// (and counted) or refused with RATE_LIMITED before anything else happens; under a token budget it reserves an
/// estimate of its tokens, which it settles with what it used when it ends (<see cref="ChatTokens"/>).
/// </summary>
public sealed class ClientLimiter(IGrainFactory grains, IOptions<LimitsOptions> options, ILogger<ClientLimiter> logger)
{
    public ClientLimits Limits { get; } = options.Value.ForClients();

    /// <summary>
    /// Admits a chat whose prompt has <paramref name="promptCharacters"/> characters or throws RATE_LIMITED. Under a token budget
    /// the chat reserves its prompt's estimate plus <see cref="LimitsOptions.AnswerTokens"/> (one chat's worth) until it settles.
    /// <paramref name="request"/>: cancelled when the client leaves, which a chat that ends early is charged for.
    /// </summary>
    public async Task<ChatTokens> AdmitAsync(Caller caller, int promptCharacters, CancellationToken request)
    {
        if (Limits.ChatsPerMinute is null && Limits.TokensPerDay is null) return ChatTokens.Uncounted;
        var prompt = ChatTokens.Estimate(promptCharacters);
        var admission = await grains.GetGrain<IClientUsageGrain>(caller.Name).Admit(Limits, prompt + options.Value.AnswerTokens);
        if (admission.Admitted)
            return admission.Reservation is { } reservation ? new ChatTokens(this, caller, reservation, prompt, request) : ChatTokens.Uncounted;
        Refuse(caller, "rate_limited");
        var seconds = Math.Max(1, (int)Math.Ceiling(admission.RetryAfter.TotalSeconds));
        throw new OpossumException(ErrorCodes.RateLimited, $"Rate limited: {admission.Refusal}. Retry after {seconds} s.",
            retryAfter: TimeSpan.FromSeconds(seconds));
    }

    /// <summary>Ends a chat's reservation with the tokens it used. Never fails the chat: a reservation not settled expires.</summary>
    internal async Task SettleAsync(Caller caller, Guid reservation, int tokens)
    {
        try
        {
            await grains.GetGrain<IClientUsageGrain>(caller.Name).Settle(reservation, tokens);
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
