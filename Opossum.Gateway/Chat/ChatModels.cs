using System.Runtime.CompilerServices;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>The <c>ChatInput</c> of the GraphQL schema.</summary>
public sealed class ChatInput
{
    public string Message { get; set; } = "";
    public string? ConversationId { get; set; }
    public string? Model { get; set; }
    public string? ImageBase64 { get; set; }
    public bool? NoCache { get; set; }
    public string? System { get; set; }
    public double? Temperature { get; set; }
    public double? TopP { get; set; }
    public int? MaxTokens { get; set; }
    public List<string>? Stop { get; set; }
    public long? Seed { get; set; }
    public string? JsonSchema { get; set; }
}

/// <summary>
/// A stateless chat as the OpenAI and Ollama doors read it: the whole context from the client (roles <c>system</c>,
/// <c>user</c>, <c>assistant</c>; images already validated), ending with the user's message. <see cref="ChatService"/>
/// checks what holds for every door: sizes, the model, the last message.
/// </summary>
public sealed record StatelessChat(IReadOnlyList<ChatMessage> Messages, string Model, GenerationOptions? Options, bool NoCache);

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
    string? FallbackReason,
    string? FinishReason = null,
    int? InputTokens = null,
    int? OutputTokens = null)
{
    public static ChatResponse From(ChatReply reply, string conversationId, double durationMs, string traceId) =>
        new(reply.Message, conversationId, reply.Backend, reply.Model, reply.Cached, reply.TokensUsed, durationMs, traceId, reply.FallbackReason,
            reply.FinishReason, reply.InputTokens, reply.OutputTokens);
}

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
    string? FallbackReason,
    string? FinishReason = null,
    int? InputTokens = null,
    int? OutputTokens = null)
{
    public static async IAsyncEnumerable<ChatChunk> From(IAsyncEnumerable<ReplyChunk> chunks, string conversationId, string traceId,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var chunk in chunks.WithCancellation(cancellationToken))
            yield return chunk.Reply is not { } reply
                ? new ChatChunk(chunk.Delta, false, conversationId, traceId, null, chunk.Backend, chunk.Model, chunk.Cached, null, null)
                : new ChatChunk(chunk.Delta, true, conversationId, traceId, reply.Message, reply.Backend, reply.Model, reply.Cached,
                    reply.TokensUsed, reply.FallbackReason, reply.FinishReason, reply.InputTokens, reply.OutputTokens);
    }
}
