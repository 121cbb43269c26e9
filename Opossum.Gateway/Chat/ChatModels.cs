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

/// <summary>The <c>ChatChunk</c> of the GraphQL schema: one chunk of a streamed answer; the last one has <see cref="Done"/> and the whole answer.</summary>
public sealed record ChatChunk(
    string Delta,
    bool Done,
    string ConversationId,
    string TraceId,
    string? Message,
    string? BackendUsed,
    string? ModelUsed,
    bool? Cached,
    int? TokensUsed,
    string? FallbackReason);
