using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Opossum.Grains.Limits;

/// <summary>A client's tokens of one UTC day, as stored.</summary>
[GenerateSerializer]
public sealed class TokenDay
{
    [Id(0)] public DateOnly Day { get; set; }
    [Id(1)] public long Tokens { get; set; }
}

/// <summary>
/// One client's counts for the whole cluster. Chats are counted in memory per UTC minute (a fixed window): a silo
/// that dies takes at most the current minute's count with it. Tokens are stored per UTC day, written each time a
/// chat settles what it used, so a silo's death loses no more than a write under way. Under a budget, each chat
/// under way holds a reservation (in memory) and a chat is admitted only while the tokens used and reserved are
/// under the budget: concurrent chats overshoot it by one chat's reservation at most (while none uses more than it
/// reserved). Admissions interleave with a token write: a chat never waits for storage.
/// </summary>
public sealed class ClientUsageGrain(
    [PersistentState("tokens", ProviderNames.Storage)] IPersistentState<TokenDay> tokens,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time,
    IOptions<SiloMessagingOptions> messaging) : Grain, IClientUsageGrain
{
    /// <summary>How soon to retry when chats under way hold what is left of the budget: chats usually end within seconds.</summary>
    public static readonly TimeSpan RetryWhileReserved = TimeSpan.FromSeconds(5);

    // A chat still under way after the grain-call timeout has had its calls time out; its gateway may be gone.
    private readonly TokenReservations _reserved = new(messaging.Value.ResponseTimeout);
    private long _minute = -1;
    private int _chats;

    public Task<Admission> Admit(ClientLimits limits, int estimate)
    {
        var now = time.GetUtcNow();
        var chats = ChatsThisMinute(now);
        var used = TokensToday(now);
        if (limits.TokensPerDay is { } budget)
        {
            if (used >= budget)
                return Task.FromResult(new Admission(false,
                    $"the budget of {budget} tokens per day is used up ({used} today); it resets at {DayEnd(now):yyyy-MM-dd HH:mm} UTC", DayEnd(now) - now));
            var reserved = _reserved.Held(now);
            if (used + reserved >= budget)
                return Task.FromResult(new Admission(false,
                    $"the rest of the budget of {budget} tokens per day is reserved by chats under way ({used} used today, {reserved} reserved); retry when they end",
                    RetryWhileReserved));
        }
        if (limits.ChatsPerMinute is { } perMinute && chats >= perMinute)
            return Task.FromResult(new Admission(false,
                $"the limit of {perMinute} chats per minute is reached; it resets at {MinuteEnd(now):HH:mm:ss} UTC", MinuteEnd(now) - now));
        _chats++;
        return Task.FromResult(limits.TokensPerDay is null ? Admission.Yes : new Admission(true, Reservation: _reserved.Reserve(Math.Max(0, estimate), now)));
    }

    public async Task Settle(Guid reservation, int count)
    {
        _reserved.Release(reservation);
        if (count <= 0) return;
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        if (tokens.State.Day != today)
        {
            tokens.State.Day = today;
            tokens.State.Tokens = 0;
        }
        tokens.State.Tokens += count;
        await tokens.WriteStateAsync();
    }

    public Task<ClientUsage> Get()
    {
        var now = time.GetUtcNow();
        return Task.FromResult(new ClientUsage(ChatsThisMinute(now), TokensToday(now), MinuteEnd(now), DayEnd(now), _reserved.Held(now)));
    }

    private int ChatsThisMinute(DateTimeOffset now)
    {
        var minute = now.ToUnixTimeSeconds() / 60;
        if (minute != _minute)
        {
            _minute = minute;
            _chats = 0;
        }
        return _chats;
    }

    private long TokensToday(DateTimeOffset now) => tokens.State.Day == DateOnly.FromDateTime(now.UtcDateTime) ? tokens.State.Tokens : 0;

    private static DateTimeOffset MinuteEnd(DateTimeOffset now) => DateTimeOffset.FromUnixTimeSeconds((now.ToUnixTimeSeconds() / 60 + 1) * 60);

    private static DateTimeOffset DayEnd(DateTimeOffset now) => new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(1);
}
