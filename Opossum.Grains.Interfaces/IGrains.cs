using Orleans.Concurrency;

namespace Opossum.Grains;

/// <summary>A conversation: keeps the last turns and answers chat commands in their context.</summary>
public interface IConversationGrain : IGrainWithStringKey
{
    /// <summary>Answers a message in the context of this conversation and records both turns.</summary>
    Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default);

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
}

/// <summary>One cache entry, keyed by a hash of (model, prompt context); coalesces identical requests.</summary>
public interface IResponseCacheGrain : IGrainWithStringKey
{
    /// <summary>The cached answer when fresh, otherwise one generation shared by all waiting callers.</summary>
    Task<CachedGeneration> GetOrGenerate(GenerationRequest request, CancellationToken cancellationToken = default);
}

/// <summary>Generation for one model with bounded concurrency.</summary>
public interface IModelGrain : IGrainWithStringKey
{
    /// <summary>Generates an answer for the prompt context.</summary>
    Task<Generation> Generate(GenerationRequest request, CancellationToken cancellationToken = default);

    /// <summary>Latency and error figures of this model.</summary>
    Task<ModelStats> GetStats();

    /// <summary>The service is no longer healthy: ask it before each generation again.</summary>
    Task RevokeAdmission();
}

/// <summary>Availability of one backend service (ollama, gemini), checked on a timer.</summary>
public interface IServiceGrain : IGrainWithStringKey
{
    /// <summary>The last known availability.</summary>
    Task<ServiceHealth> GetHealth();

    /// <summary>Checks the backend now (an operator's check skips the circuit's cool-down) and returns the result.</summary>
    Task<ServiceHealth> Check();

    /// <summary>
    /// Whether a generation may be sent now: true unless the circuit is open. When the cool-down
    /// has passed, the first caller's probe decides (half-open).
    /// </summary>
    Task<bool> AllowRequest();

    /// <summary>
    /// <see cref="AllowRequest"/> for the model grain <paramref name="model"/>, and whether failures are
    /// being counted (so a success is worth reporting). While the service is healthy the admission
    /// stands (<see cref="Admission.StandsFor"/>): the model sends without asking again until the
    /// service revokes it (<see cref="IModelGrain.RevokeAdmission"/>) or it runs out.
    /// </summary>
    Task<Admission> Admit(string model);

    /// <summary>A generation succeeded (passive report).</summary>
    [OneWay]
    Task ReportSuccess();

    /// <summary>A generation failed for a backend reason (passive report); counts towards opening the circuit.</summary>
    [OneWay]
    Task ReportFailure(string reason);
}

/// <summary>Cluster-wide cache hit and miss counters (one grain, key 0).</summary>
public interface ICacheStatsGrain : IGrainWithIntegerKey
{
    /// <summary>Adds the lookups one silo counted since its last report.</summary>
    Task Add(long hits, long misses);

    /// <summary>The counts so far.</summary>
    Task<CacheCounts> Get();
}
