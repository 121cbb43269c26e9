using Orleans.Concurrency;

namespace Opossum.Grains;

/// <summary>A conversation: keeps the last turns and answers chat commands in their context.</summary>
public interface IConversationGrain : IGrainWithStringKey
{
    /// <summary>Answers a message in the context of this conversation and records both turns.</summary>
    Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default);

    /// <summary>
    /// Answers a message chunk by chunk as the model writes it; records both turns when the answer is
    /// complete (the last chunk comes after), never for a stream that failed or was left.
    /// </summary>
    IAsyncEnumerable<ReplyChunk> ChatStream(ChatCommand command, CancellationToken cancellationToken = default);

    /// <summary>The stored turns, or null when this conversation does not exist.</summary>
    Task<ConversationView?> Get();

    /// <summary>Forgets the conversation; false when there was nothing to forget.</summary>
    Task<bool> End();
}

/// <summary>Starts new conversations (a few partitions by key): answers the first message and stores the conversation.</summary>
public interface IConversationStarterGrain : IGrainWithIntegerKey
{
    /// <summary>Answers the first message of the new conversation <paramref name="conversationId"/> and records it.</summary>
    Task<ChatReply> Start(string conversationId, ChatCommand command, CancellationToken cancellationToken = default);

    /// <summary>Streams the answer to the first message of <paramref name="conversationId"/> and records it when complete.</summary>
    IAsyncEnumerable<ReplyChunk> StartStream(string conversationId, ChatCommand command, CancellationToken cancellationToken = default);
}

/// <summary>Which <see cref="IConversationStarterGrain"/> starts a given conversation.</summary>
public static class ConversationStarters
{
    /// <summary>How many starter activations share the load.</summary>
    public const int Partitions = 16;

    public static long KeyFor(string conversationId) => (uint)StringComparer.Ordinal.GetHashCode(conversationId) % Partitions;
}

/// <summary>
/// One cache entry, keyed by a hash of (model, prompt context); coalesces identical requests, streamed or
/// not: one generation in flight at a time, shared by every caller that asks for it meanwhile.
/// </summary>
public interface IResponseCacheGrain : IGrainWithStringKey
{
    /// <summary>The cached answer when fresh, otherwise the answer of the one shared generation.</summary>
    Task<CachedGeneration> GetOrGenerate(GenerationRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// The cached answer as one chunk when fresh, otherwise the shared generation's chunks: from the first
    /// one for a caller that joins late. The generation stops when its last caller leaves.
    /// </summary>
    IAsyncEnumerable<GenerationChunk> Stream(GenerationRequest request, CancellationToken cancellationToken = default);
}

/// <summary>
/// Generation for one model. A stateless worker: every silo generates locally, so a model is no
/// bottleneck; what limits generations is the capacity of the backend's servers (<see cref="IServiceGrain"/>).
/// </summary>
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>Generates an answer for the prompt context on the least busy server of the model's backend.</summary>
    Task<Generation> Generate(GenerationRequest request, CancellationToken cancellationToken = default);

    /// <summary>The same generation chunk by chunk as the server writes it; the last chunk carries the whole generation.</summary>
    IAsyncEnumerable<GenerationChunk> Stream(GenerationRequest request, CancellationToken cancellationToken = default);
}

/// <summary>
/// One backend service (ollama, gemini) and its servers, cluster-wide: availability checked on a timer,
/// a circuit per server, and the slots each server has (its parallelism), granted to generations.
/// </summary>
public interface IServiceGrain : IGrainWithStringKey
{
    /// <summary>The last known availability of the service and of each of its servers.</summary>
    Task<ServiceHealth> GetHealth();

    /// <summary>Checks every server now (an operator's check skips the circuit's cool-down) and returns the result.</summary>
    Task<ServiceHealth> Check();

    /// <summary>
    /// A slot on the available server with the fewest generations in flight, waiting for one to free up
    /// when all are busy. Fails with BACKEND_UNAVAILABLE when no server can take traffic (circuits open,
    /// rate-limited, disabled) or no slot frees up in time. <paramref name="holder"/> is the caller's silo,
    /// whose slots are given back if it dies; <paramref name="avoid"/> lists servers that just failed this request;
    /// <paramref name="ticket"/>, chosen by the caller, names the request for <see cref="Abandon"/>.
    /// </summary>
    Task<Slot> Acquire(string model, SiloAddress holder, int[]? avoid = null, Guid ticket = default, CancellationToken cancellationToken = default);

    /// <summary>
    /// The caller of <see cref="Acquire"/> with <paramref name="ticket"/> never got its answer (its call failed on the way,
    /// though the request may still arrive or have been granted): the slot or the place in the queue is given up.
    /// </summary>
    [OneWay]
    Task Abandon(Guid ticket);

    /// <summary>Gives a slot back with what the generation said about the server.</summary>
    [OneWay]
    Task Release(Slot slot, GenerationOutcome outcome);
}

/// <summary>Cluster-wide cache hit and miss counters (one grain, key 0).</summary>
public interface ICacheStatsGrain : IGrainWithIntegerKey
{
    /// <summary>Adds the lookups one silo counted since its last report.</summary>
    Task Add(long hits, long misses);

    /// <summary>The counts so far.</summary>
    Task<CacheCounts> Get();
}

/// <summary>
/// One client's use of the cluster, keyed by the client's name (its API key's name, or <c>ip:address</c> when no
/// keys are configured): its chats in the current minute and its tokens of the current day (UTC). Every gateway
/// asks the same grain, so a limit holds for the cluster, not per gateway.
/// </summary>
public interface IClientUsageGrain : IGrainWithStringKey
{
    /// <summary>
    /// Counts one chat if <paramref name="limits"/> allow it; a refused chat counts nothing. Under a token budget, a chat
    /// is admitted only while the tokens used and reserved today are under it, and <paramref name="estimate"/> tokens are
    /// reserved for it until it settles (<see cref="Settle"/>) or the grain-call timeout has passed.
    /// </summary>
    [AlwaysInterleave]
    Task<Admission> Admit(ClientLimits limits, int estimate);

    /// <summary>Ends a chat's reservation and adds the tokens it used (a cached answer none), also once the reservation expired.</summary>
    Task Settle(Guid reservation, int tokens);

    [AlwaysInterleave]
    Task<ClientUsage> Get();
}
