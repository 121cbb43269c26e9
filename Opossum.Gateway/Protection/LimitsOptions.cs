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

    /// <summary>Largest cost of a document: a <c>chat</c> or <c>chatStream</c> costs <see cref="ChatCost"/>, any other object field 1 (what a list field selects counts 5 times), scalars and introspection nothing.</summary>
    public int MaxCost { get; set; } = 500;

    /// <summary>Deepest nesting of fields a document may have; one that only introspects may nest to <see cref="IntrospectionMaxDepth"/>.</summary>
    public int MaxDepth { get; set; } = 14;

    /// <summary>Deepest nesting of a document that only introspects the schema (graphql-js 17's introspection query is 15 deep).</summary>
    public const int IntrospectionMaxDepth = 20;

    /// <summary>The cost of a field that makes a backend generation.</summary>
    public const int ChatCost = 100;

    public Grains.ClientLimits ForClients() => new(ChatsPerMinute > 0 ? ChatsPerMinute : null, TokensPerDay is > 0 ? TokensPerDay : null);
}
