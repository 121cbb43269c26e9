namespace Opossum.Grains.Limits;

/// <summary>
/// Tokens set aside for a client's chats under way, each until its chat settles it or it expires: a chat whose
/// gateway died never settles, and must not hold the client's budget for the rest of the day.
/// </summary>
public sealed class TokenReservations(TimeSpan lifetime)
{
    private readonly Dictionary<Guid, (long Tokens, DateTimeOffset ExpiresAt)> _held = [];
    private long _total;

    /// <summary>Tokens held at <paramref name="now"/>, once the expired reservations are let go.</summary>
    public long Held(DateTimeOffset now)
    {
        if (_held.Count == 0) return 0;
        foreach (var (id, reservation) in _held)
        {
            if (reservation.ExpiresAt > now) continue;
            _held.Remove(id);
            _total -= reservation.Tokens;
        }
        return _total;
    }

    public Guid Reserve(long tokens, DateTimeOffset now)
    {
        var id = Guid.NewGuid(); // unique across activations: a settlement from before a move never ends another chat's reservation
        _held[id] = (tokens, now + lifetime);
        _total += tokens;
        return id;
    }

    /// <summary>Lets a reservation go; nothing when it had expired already.</summary>
    public void Release(Guid id)
    {
        if (_held.Remove(id, out var reservation))
            _total -= reservation.Tokens;
    }
}
