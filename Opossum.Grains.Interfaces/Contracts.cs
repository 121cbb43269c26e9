namespace Opossum.Grains;

/// <summary>
/// One chat message sent to a model: role is "system", "user", "assistant" or "tool"; of a conversation, only the newest user message
/// carries an image. An assistant message may carry the <see cref="ToolCalls"/> it made; a "tool" message is the result of one of them,
/// named by <see cref="ToolCallId"/> and <see cref="ToolName"/> (the function's name, which Gemini needs and the doors resolve from the call).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ChatMessage(
    [property: Id(0)] string Role,
    [property: Id(1)] string Content,
    [property: Id(2)] ImageAttachment? Image = null,
    [property: Id(3)] IReadOnlyList<ToolCall>? ToolCalls = null,
    [property: Id(4)] string? ToolCallId = null,
    [property: Id(5)] string? ToolName = null);

/// <summary>
/// A function a model may call: its name, what it does, and its parameters as a JSON Schema (JSON text, an object schema).
/// <see cref="Strict"/>: the arguments of a call to it are checked against <see cref="Parameters"/> before the answer is given out.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ToolDefinition(
    [property: Id(0)] string Name,
    [property: Id(1)] string? Description,
    [property: Id(2)] string Parameters,
    [property: Id(3)] bool Strict = false);

/// <summary>A call a model made: its id (the backend's, or one the gateway generated), the function's name and the arguments as JSON text (an object).</summary>
[GenerateSerializer, Immutable]
public sealed record ToolCall([property: Id(0)] string Id, [property: Id(1)] string Name, [property: Id(2)] string Arguments);

/// <summary>Whether the model may call tools: <see cref="Modes"/>; with <see cref="Modes.Function"/>, it must call <see cref="Function"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record ToolChoice([property: Id(0)] string Mode, [property: Id(1)] string? Function = null)
{
    /// <summary>The modes of a tool choice, in OpenAI's words.</summary>
    public static class Modes
    {
        /// <summary>The model decides whether to call a tool (the default).</summary>
        public const string Auto = "auto";
        /// <summary>The model must not call tools.</summary>
        public const string None = "none";
        /// <summary>The model must call at least one tool.</summary>
        public const string Required = "required";
        /// <summary>The model must call the one function named.</summary>
        public const string Function = "function";
    }
}

/// <summary>
/// The answer is to be JSON: any JSON object when <see cref="Schema"/> is null (JSON mode), else JSON matching that JSON Schema
/// (JSON text). <see cref="Strict"/>: the answer is checked against the schema before it is given out.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record OutputFormat([property: Id(0)] string? Schema, [property: Id(1)] string? Name = null, [property: Id(2)] bool Strict = false);

/// <summary>A validated image (JPEG or PNG, detected from its bytes) and its SHA-256, which is part of the cache key.</summary>
[GenerateSerializer, Immutable]
public sealed record ImageAttachment([property: Id(0)] string MimeType, [property: Id(1)] byte[] Data, [property: Id(2)] string Sha256);

/// <summary>
/// What a client asks: a message of a conversation, or (<see cref="History"/> set) a stateless chat whose client
/// sends the whole context. <see cref="RequestId"/> makes a retry safe: a conversation that already recorded the
/// exchange of that request answers it again instead of generating and recording it twice. <see cref="System"/>
/// replaces the configured system prompt; a stateless chat's own system messages (in its history) replace it too.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ChatCommand(
    [property: Id(0)] string Message,
    [property: Id(1)] string? Model,
    [property: Id(2)] bool NoCache,
    [property: Id(3)] bool StartsConversation,
    [property: Id(4)] ImageAttachment? Image = null,
    [property: Id(5)] string? RequestId = null,
    [property: Id(6)] string? System = null,
    [property: Id(7)] GenerationOptions? Options = null,
    [property: Id(8)] IReadOnlyList<ChatMessage>? History = null)
{
    /// <summary>Nothing is stored: the client keeps the context and sends it with every request (the OpenAI and Ollama doors).</summary>
    public bool Stateless => History is not null;
}

/// <summary>
/// What the client asked of the answer beyond its messages: how to sample, which tools the model may call, and the answer's
/// format. A null field is the model's default. Part of the cache key.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record GenerationOptions(
    [property: Id(0)] double? Temperature = null,
    [property: Id(1)] double? TopP = null,
    [property: Id(2)] int? MaxTokens = null,
    [property: Id(3)] IReadOnlyList<string>? Stop = null,
    [property: Id(4)] long? Seed = null,
    [property: Id(5)] IReadOnlyList<ToolDefinition>? Tools = null,
    [property: Id(6)] ToolChoice? ToolChoice = null,
    [property: Id(7)] bool? ParallelToolCalls = null,
    [property: Id(8)] OutputFormat? Format = null)
{
    public bool IsEmpty => Temperature is null && TopP is null && MaxTokens is null && Stop is not { Count: > 0 } && Seed is null
                           && Tools is not { Count: > 0 } && ToolChoice is null && ParallelToolCalls is null && Format is null;

    /// <summary>The model may be offered tools.</summary>
    public bool HasTools => Tools is { Count: > 0 };

    /// <summary>The answer is checked before it is given out: a strict schema, or a strict function among the tools.</summary>
    public bool IsChecked => Format is { Strict: true, Schema: not null } || Tools?.Any(t => t.Strict) == true;
}

/// <summary>Why a model stopped writing, in OpenAI's words, which every door maps from.</summary>
public static class FinishReasons
{
    /// <summary>The model finished, or wrote a stop sequence.</summary>
    public const string Stop = "stop";

    /// <summary>The answer reached its token limit (<see cref="GenerationOptions.MaxTokens"/> or the model's).</summary>
    public const string Length = "length";

    /// <summary>The backend withheld (the rest of) the answer under its safety rules.</summary>
    public const string ContentFilter = "content_filter";

    /// <summary>The model called tools (<see cref="Generation.ToolCalls"/>) and waits for their results.</summary>
    public const string ToolCalls = "tool_calls";
}


/// <summary>
/// What a model produced for one generation request: text, and the tools it called (then <see cref="FinishReason"/> is
/// <see cref="FinishReasons.ToolCalls"/>); <see cref="Duration"/>: how long its model grain took, the wait for a slot included.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record Generation(
    [property: Id(0)] string Content,
    [property: Id(1)] string Backend,
    [property: Id(2)] string Model,
    [property: Id(3)] int? InputTokens,
    [property: Id(4)] int? OutputTokens,
    [property: Id(5)] string? FinishReason = null,
    [property: Id(6)] TimeSpan? Duration = null,
    [property: Id(7)] IReadOnlyList<ToolCall>? ToolCalls = null)
{
    public int? TotalTokens => InputTokens is null && OutputTokens is null ? null : (InputTokens ?? 0) + (OutputTokens ?? 0);
}

/// <summary>
/// A chunk of an answer as the model writes it: the text added since the previous chunk, and the tool calls the model finished
/// writing in it (<see cref="ToolCalls"/>, whole). The last chunk carries the whole <see cref="Completed"/> generation, every tool
/// call included; a stream that ends without one was cut.
/// <see cref="Cached"/>: the answer was not generated for this caller (a cached one, or another caller's in flight, which that caller did not leave).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record GenerationChunk(
    [property: Id(0)] string Delta,
    [property: Id(1)] Generation? Completed = null,
    [property: Id(2)] bool Cached = false,
    [property: Id(3)] DateTimeOffset? ExpiresAt = null,
    [property: Id(4)] bool Joined = false,
    [property: Id(5)] IReadOnlyList<ToolCall>? ToolCalls = null);

/// <summary>A request for one model: the whole prompt context as chat messages, and how to sample.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] IReadOnlyList<ChatMessage> Messages,
    [property: Id(2)] GenerationOptions? Options = null);

/// <summary>An answer from the cache, or from the model when the cache had none; fresh until <see cref="ExpiresAt"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record CachedGeneration([property: Id(0)] Generation Generation, [property: Id(1)] bool Cached, [property: Id(2)] DateTimeOffset ExpiresAt,
    [property: Id(3)] bool Joined = false);

/// <summary>The answer a conversation gives to one chat command.</summary>
[GenerateSerializer, Immutable]
public sealed record ChatReply(
    [property: Id(0)] string Message,
    [property: Id(1)] string ConversationId,
    [property: Id(2)] string Backend,
    [property: Id(3)] string Model,
    [property: Id(4)] bool Cached,
    [property: Id(5)] int? TokensUsed,
    [property: Id(6)] string? FallbackReason = null,
    [property: Id(7)] string? FinishReason = null,
    [property: Id(8)] int? InputTokens = null,
    [property: Id(9)] int? OutputTokens = null,
    [property: Id(10)] bool Joined = false,
    [property: Id(11)] TimeSpan? GenerationTime = null,
    [property: Id(12)] IReadOnlyList<ToolCall>? ToolCalls = null);

/// <summary>
/// A chunk of a streamed chat answer: the text added since the previous chunk and the tool calls finished in it, from which model.
/// The last chunk carries the whole <see cref="Reply"/> (every tool call included), sent once the exchange is recorded; a door
/// gives out the reply's calls that no earlier chunk carried, so a cached answer streams the same calls as a fresh one.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ReplyChunk(
    [property: Id(0)] string Delta,
    [property: Id(1)] string Backend,
    [property: Id(2)] string Model,
    [property: Id(3)] bool Cached,
    [property: Id(4)] ChatReply? Reply = null,
    [property: Id(5)] bool Joined = false,
    [property: Id(6)] IReadOnlyList<ToolCall>? ToolCalls = null);

/// <summary>One turn of a conversation as stored; an image is remembered by its hash only, a user turn by the request that sent it.</summary>
[GenerateSerializer, Immutable]
public sealed record Turn(
    [property: Id(0)] string Role,
    [property: Id(1)] string Content,
    [property: Id(2)] string? Model,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] string? ImageSha256 = null,
    [property: Id(5)] string? RequestId = null);

/// <summary>A conversation as a client sees it.</summary>
[GenerateSerializer, Immutable]
public sealed record ConversationView([property: Id(0)] string Id, [property: Id(1)] IReadOnlyList<Turn> Turns);

/// <summary>Availability of a backend service.</summary>
public enum ServiceState
{
    Unknown = 0,
    Online = 1,
    Degraded = 2,
    Offline = 3,
}

/// <summary>What a service grain knows about its backend.</summary>
[GenerateSerializer, Immutable]
public sealed record ServiceHealth(
    [property: Id(0)] string Name,
    [property: Id(1)] ServiceState State,
    [property: Id(2)] DateTimeOffset? LastChecked,
    [property: Id(3)] string? LastError,
    [property: Id(4)] int ConsecutiveFailures,
    [property: Id(5)] double? LatencyMs,
    [property: Id(6)] IReadOnlyList<ServerHealth>? Servers = null) : IAvailabilityFacts
{
    /// <summary>Answers requests: ONLINE or DEGRADED. UNKNOWN (never checked) still gets traffic; OFFLINE (circuit open) does not.</summary>
    public bool Available => State is ServiceState.Online or ServiceState.Degraded;
}

/// <summary>What is known of the availability of a backend service, or of one of its servers.</summary>
public interface IAvailabilityFacts
{
    bool Available { get; }
    ServiceState State { get; }
    DateTimeOffset? LastChecked { get; }
    string? LastError { get; }
    int ConsecutiveFailures { get; }
    double? LatencyMs { get; }
}

/// <summary>What a service grain knows about one server of its backend (an Ollama server, the Gemini API).</summary>
[GenerateSerializer, Immutable]
public sealed record ServerHealth(
    [property: Id(0)] string Url,
    [property: Id(1)] ServiceState State,
    [property: Id(2)] DateTimeOffset? LastChecked,
    [property: Id(3)] string? LastError,
    [property: Id(4)] int ConsecutiveFailures,
    [property: Id(5)] double? LatencyMs,
    [property: Id(6)] int InFlight,
    [property: Id(7)] int Parallelism,
    [property: Id(8)] DateTimeOffset? ThrottledUntil) : IAvailabilityFacts
{
    public bool Available => State is ServiceState.Online or ServiceState.Degraded;
}

/// <summary>Cluster-wide cache hit and miss counts.</summary>
[GenerateSerializer, Immutable]
public sealed record CacheCounts([property: Id(0)] long Hits, [property: Id(1)] long Misses)
{
    public double HitRatio => Hits + Misses == 0 ? 0 : (double)Hits / (Hits + Misses);
}

/// <summary>A slot on one server of a backend, granted for one generation; given back with <see cref="GenerationOutcome"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record Slot([property: Id(0)] long Id, [property: Id(1)] int Server, [property: Id(2)] TimeSpan Waited);

/// <summary>How a generation on a server ended, as far as the server's availability is concerned.</summary>
public enum OutcomeKind
{
    /// <summary>The server answered.</summary>
    Succeeded = 0,
    /// <summary>The server failed (unreachable, 5xx, timeout): counts towards opening its circuit.</summary>
    Failed = 1,
    /// <summary>The server asked to be left alone for a while (HTTP 429): no traffic until then, not a failure.</summary>
    Throttled = 2,
    /// <summary>Says nothing about the server: the caller went away, or the server refused just this request (a 4xx).</summary>
    Inconclusive = 3,
}

/// <summary>The outcome of one generation reported with its slot.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationOutcome([property: Id(0)] OutcomeKind Kind, [property: Id(1)] string? Reason = null, [property: Id(2)] TimeSpan? RetryAfter = null)
{
    public static readonly GenerationOutcome Success = new(OutcomeKind.Succeeded);
    public static readonly GenerationOutcome Inconclusive = new(OutcomeKind.Inconclusive);
}

/// <summary>What a client may use: chats per minute and tokens per day (UTC); null is no limit.</summary>
[GenerateSerializer, Immutable]
public sealed record ClientLimits([property: Id(0)] int? ChatsPerMinute, [property: Id(1)] long? TokensPerDay);

/// <summary>Whether a chat may run; when not, which limit refused it and how long until it resets. <see cref="Reservation"/>: the tokens held for it under a budget.</summary>
[GenerateSerializer, Immutable]
public sealed record Admission(
    [property: Id(0)] bool Admitted,
    [property: Id(1)] string? Refusal = null,
    [property: Id(2)] TimeSpan RetryAfter = default,
    [property: Id(3)] Guid? Reservation = null)
{
    public static readonly Admission Yes = new(true);
}

/// <summary>A client's counts: chats this minute, tokens today (UTC) and those reserved for its chats under way, and when each window ends.</summary>
[GenerateSerializer, Immutable]
public sealed record ClientUsage(
    [property: Id(0)] int ChatsThisMinute,
    [property: Id(1)] long TokensToday,
    [property: Id(2)] DateTimeOffset MinuteEndsAt,
    [property: Id(3)] DateTimeOffset DayEndsAt,
    [property: Id(4)] long TokensReserved = 0);
