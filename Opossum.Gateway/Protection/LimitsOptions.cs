namespace Opossum.Gateway.Protection;

/// <summary>What one client may do (<c>Opossum:Limits</c>): per key, or per client address when no keys are configured.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Opossum:Limits";

    /// <summary>Chats (and chat streams) a client may start per minute (UTC minutes), counted for the whole cluster; 0: no limit.</summary>
    public int ChatsPerMinute { get; set; } = 60;

    /// <summary>Tokens a client's chats may use per UTC day: what the backends report, else an estimate of what was generated (<see cref="ChatTokens"/>); none by default. Cached answers use none.</summary>
    public long? TokensPerDay { get; set; }

    /// <summary>
    /// Tokens reserved for a chat's answer when it is admitted under <see cref="TokensPerDay"/>, beside its message's estimate,
    /// until the chat settles what it used: one chat's worth, by which concurrent chats may overshoot the budget.
    /// </summary>
    public int AnswerTokens { get; set; } = 1000;

    /// <summary>Largest cost of a document (<see cref="DocumentCost"/>): every value the response can hold costs 1, a call to the cluster <see cref="LookupCost"/>, a chat <see cref="ChatCost"/>.</summary>
    public int MaxCost { get; set; } = 2000;

    /// <summary>Deepest nesting of fields a document may have; one that only introspects may nest to <see cref="IntrospectionMaxDepth"/>.</summary>
    public int MaxDepth { get; set; } = 14;

    /// <summary>Largest request body: a chat with the largest image (4 MiB, base64 in JSON) fits; also the largest WebSocket message after <c>connection_init</c>.</summary>
    public long MaxRequestBytes { get; set; } = 6 * 1024 * 1024;

    /// <summary>Longest query text, in characters; a longer one is refused before it is parsed.</summary>
    public int MaxQueryLength { get; set; } = 64 * 1024;

    /// <summary>WebSockets one client (key, or address without keys) may have open on one gateway.</summary>
    public int WebSocketsPerClient { get; set; } = 16;

    /// <summary>Operations one WebSocket may run at once.</summary>
    public int OperationsPerWebSocket { get; set; } = 16;

    /// <summary>Deepest nesting of a document that only introspects the schema (graphql-js 17's introspection query is 15 deep).</summary>
    public const int IntrospectionMaxDepth = 20;

    /// <summary>The cost of a field that makes a backend generation.</summary>
    public const int ChatCost = 400;

    /// <summary>The cost of a field that calls the cluster (a grain call or a read of the trace store).</summary>
    public const int LookupCost = 40;

    /// <summary>Largest WebSocket message before <c>connection_init</c> is accepted: enough for its payload with a key.</summary>
    public const int MaxInitMessageBytes = 4 * 1024;

    // The largest image, base64-encoded, with the largest message beside it.
    private const long MinRequestBytes = (Chat.ImageInput.MaxBytes + 2) / 3 * 4 + Chat.ChatService.MaxMessageBytes;

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (ChatsPerMinute < 0) yield return $"{Section}:ChatsPerMinute must be 0 (no limit) or more, not {ChatsPerMinute}.";
        if (TokensPerDay is < 1) yield return $"{Section}:TokensPerDay must be at least 1 when set, not {TokensPerDay}.";
        if (AnswerTokens < 0) yield return $"{Section}:AnswerTokens must be 0 or more, not {AnswerTokens}.";
        if (MaxCost < ChatCost) yield return $"{Section}:MaxCost must be at least {ChatCost} (one chat), not {MaxCost}.";
        if (MaxDepth < 2) yield return $"{Section}:MaxDepth must be at least 2, not {MaxDepth}.";
        if (MaxRequestBytes < MinRequestBytes) yield return $"{Section}:MaxRequestBytes must be at least {MinRequestBytes} (a chat with the largest image), not {MaxRequestBytes}.";
        if (MaxQueryLength < 1024) yield return $"{Section}:MaxQueryLength must be at least 1024, not {MaxQueryLength}.";
        if (WebSocketsPerClient < 1) yield return $"{Section}:WebSocketsPerClient must be at least 1, not {WebSocketsPerClient}.";
        if (OperationsPerWebSocket < 1) yield return $"{Section}:OperationsPerWebSocket must be at least 1, not {OperationsPerWebSocket}.";
    }

    public Grains.ClientLimits ForClients() => new(ChatsPerMinute > 0 ? ChatsPerMinute : null, TokensPerDay is > 0 ? TokensPerDay : null);
}
