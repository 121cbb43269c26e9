namespace Opossum.Grains.Conversations;

/// <summary>Conversation settings (section <c>Opossum:Conversations</c>).</summary>
public sealed class ConversationOptions
{
    public const string Section = "Opossum:Conversations";

    /// <summary>Exchanges (a user turn and its answer) kept and sent to the model as context.</summary>
    public int ContextExchanges { get; set; } = 5;

    /// <summary>Optional system prompt sent first in every conversation.</summary>
    public string? SystemPrompt { get; set; }

    /// <summary>A conversation not continued for this long is forgotten (Redis key expiry; memory sweep).</summary>
    public TimeSpan IdleExpiry { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Standalone mode only: conversations kept in memory at most; the longest idle go first.</summary>
    public int MaxInMemory { get; set; } = 100_000;

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (ContextExchanges <= 0) yield return $"{Section}:ContextExchanges must be at least 1.";
        if (IdleExpiry <= TimeSpan.Zero) yield return $"{Section}:IdleExpiry must be positive.";
        if (MaxInMemory <= 0) yield return $"{Section}:MaxInMemory must be at least 1.";
    }
}
