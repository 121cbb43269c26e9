namespace Opossum.Gateway.Chat;

/// <summary>The <c>ChatInput</c> of the GraphQL schema.</summary>
public sealed class ChatInput
{
    public string Message { get; set; } = "";
    public string? ConversationId { get; set; }
    public string? Model { get; set; }
    public string? ImageBase64 { get; set; }
    public bool? NoCache { get; set; }
}

/// <summary>The <c>ChatResponse</c> of the GraphQL schema.</summary>
public sealed record ChatResponse(
    string Message,
    string ConversationId,
    string BackendUsed,
    string ModelUsed,
    bool Cached,
    int? TokensUsed,
    double DurationMs,
    string TraceId,
    string? FallbackReason);
