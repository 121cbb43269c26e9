namespace Opossum.Grains.Availability;

/// <summary>
/// The slots of a backend's servers and the requests waiting for one. A slot is granted on the usable server
/// with a free slot and the fewest generations in flight; while none is free, requests wait in arrival order,
/// except that one avoiding some servers does not hold up those behind it. A slot comes back when released,
/// when its holder silo is dead, when it outlived any generation, or when its caller gave it up (by ticket).
/// Time comes from a <see cref="TimeProvider"/>; not thread-safe (the grain's turns are single-threaded).
/// </summary>
public sealed class SlotQueue(
    string backend,
    IReadOnlyList<ServerAvailability> servers,
    TimeSpan requestTimeout,
    TimeSpan queueTimeout,
    TimeProvider clock,
    CancellationToken stopping)
{
    // How long past the request timeout a slot is held for a generation that never said it ended; also how long a
    // ticket given up before its request arrived is remembered.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(30);

    private readonly Dictionary<long, HeldSlot>[] _held = servers.Select(_ => new Dictionary<long, HeldSlot>()).ToArray();
    private readonly long[] _lastGrant = new long[servers.Count];
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly Dictionary<Guid, long> _abandoned = [];
    private long _lastSlot;
    private long _grants;

    public int InFlight(int server) => _held[server].Count;

    /// <summary>Refuses a request whose caller gave it up before it arrived (see <see cref="Abandon"/>).</summary>
    public void Arrived(Guid ticket)
    {
        if (_abandoned.Remove(ticket))
            throw new OrleansException($"The request for a slot of backend '{backend}' was given up by its caller before it arrived.");
    }

    /// <summary>
    /// A slot for <paramref name="holder"/>, on a server not in <paramref name="avoid"/>, now or after the requests
    /// that came first; <paramref name="started"/> (a timestamp of the clock) is when the request arrived.
    /// </summary>
    public async Task<Slot> AcquireAsync(SiloAddress holder, int[]? avoid, Guid ticket, long started, CancellationToken cancellationToken)
    {
        if (!Usable(avoid).Any())
            throw BackendHealthSummary.Unavailable(backend, servers);
        if (_waiters.Count == 0 && Pick(avoid) is { } free)
            return Grant(free, holder, ticket, started);
        return await WaitAsync(new Waiter(holder, avoid, ticket, started), cancellationToken);
    }

    private async Task<Slot> WaitAsync(Waiter waiter, CancellationToken cancellationToken)
    {
        var node = _waiters.AddLast(waiter);
        Slot? granted = null;
        // A silo that is stopping takes no releases any more, so its waiters would wait out the queue timeout, and
        // hold the silo's shutdown that long: they are sent to ask again, which reaches the grain's next activation.
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        try
        {
            return granted = await waiter.Granted.Task.WaitAsync(queueTimeout, clock, wait.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new OrleansException($"The silo of backend '{backend}''s slots is stopping; the request is retried on the silo that takes them over.");
        }
        catch (TimeoutException)
        {
            throw new OpossumException(ErrorCodes.BackendUnavailable,
                $"Backend '{backend}' is busy: every slot ({string.Join(", ", servers.Select(s => $"{s.Server.Parallelism} on {s.Server.Url}"))}) " +
                $"stayed taken for {queueTimeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            if (node.List is not null)
                _waiters.Remove(node);
            // Granted just as the wait gave up (timeout or the caller's cancellation): give the slot back.
            if (granted is null && waiter.Granted.Task.IsCompletedSuccessfully)
                Release(waiter.Granted.Task.Result);
        }
    }

    /// <summary>Frees a slot and hands it on; a slot of an earlier activation is unknown here: nothing to give back.</summary>
    public void Release(Slot slot)
    {
        if (slot.Server >= _held.Length) return;
        _held[slot.Server].Remove(slot.Id);
        HandOff();
    }

    /// <summary>Gives free slots to the waiters, first come first served; fails those for which no server can take traffic.</summary>
    public void HandOff()
    {
        for (var node = _waiters.First; node is not null;)
        {
            var next = node.Next;
            var waiter = node.Value;
            if (!Usable(waiter.Avoid).Any())
            {
                _waiters.Remove(node);
                waiter.Granted.TrySetException(BackendHealthSummary.Unavailable(backend, servers));
            }
            else if (Pick(waiter.Avoid) is { } free)
            {
                _waiters.Remove(node);
                waiter.Granted.TrySetResult(Grant(free, waiter.Holder, waiter.Ticket, waiter.Started));
            }
            else if (waiter.Avoid is null)
            {
                return; // no slot for the first in line: none for those behind it either
            }
            node = next;
        }
    }

    /// <summary>
    /// The caller of <paramref name="ticket"/> gave it up and waits for no answer: a waiter leaves the queue, a
    /// granted slot is free again, and a request that has not arrived yet (passed on by a silo that stopped) is refused when it does.
    /// </summary>
    public void Abandon(Guid ticket)
    {
        if (ticket == Guid.Empty) return;
        for (var node = _waiters.First; node is not null; node = node.Next)
        {
            if (node.Value.Ticket != ticket) continue;
            _waiters.Remove(node); // at once: a slot handed to it now would stay held until it expires
            node.Value.Granted.TrySetException(new OrleansException($"The request for a slot of backend '{backend}' was given up by its caller."));
            return;
        }
        foreach (var held in _held)
        {
            foreach (var (id, slot) in held)
            {
                if (slot.Ticket != ticket) continue;
                held.Remove(id);
                HandOff();
                return;
            }
        }
        _abandoned[ticket] = clock.GetTimestamp();
    }

    /// <summary>Frees the slots of holders that are dead and those held longer than any generation may take; forgets old given-up tickets.</summary>
    public void Reclaim(Func<SiloAddress, bool> isDead)
    {
        foreach (var (ticket, since) in _abandoned.ToList())
        {
            if (clock.GetElapsedTime(since) > Margin)
                _abandoned.Remove(ticket);
        }
        foreach (var held in _held)
        {
            foreach (var (id, slot) in held.ToList())
            {
                if (clock.GetElapsedTime(slot.Granted) > requestTimeout + Margin || isDead(slot.Holder))
                    held.Remove(id);
            }
        }
    }

    // Servers that may take traffic now (perhaps after waiting for a slot).
    private IEnumerable<ServerAvailability> Usable(int[]? avoid) =>
        servers.Where(s => s.Decide() != CircuitDecision.Refuse && avoid?.Contains(s.Server.Index) != true);

    // The usable server with a free slot and the fewest generations in flight; of equals, the one that waited longest.
    private ServerAvailability? Pick(int[]? avoid) => Usable(avoid)
        .Where(s => s.Decide() == CircuitDecision.Send && InFlight(s.Server.Index) < s.Server.Parallelism)
        .OrderBy(s => InFlight(s.Server.Index)).ThenBy(s => _lastGrant[s.Server.Index])
        .FirstOrDefault();

    private Slot Grant(ServerAvailability server, SiloAddress holder, Guid ticket, long started)
    {
        var now = clock.GetTimestamp();
        var slot = new Slot(++_lastSlot, server.Server.Index, clock.GetElapsedTime(started, now));
        _held[slot.Server][slot.Id] = new HeldSlot(holder, ticket, now);
        _lastGrant[slot.Server] = ++_grants;
        return slot;
    }

    private sealed record HeldSlot(SiloAddress Holder, Guid Ticket, long Granted);

    private sealed class Waiter(SiloAddress holder, int[]? avoid, Guid ticket, long started)
    {
        public SiloAddress Holder { get; } = holder;
        public int[]? Avoid { get; } = avoid;
        public Guid Ticket { get; } = ticket;
        public long Started { get; } = started;
        public TaskCompletionSource<Slot> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
