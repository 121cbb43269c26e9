using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.Grains.Conversations;

namespace Opossum.Gateway.Chat;

/// <summary>
/// Validates chat input, admits it against the caller's limits, hands it to the conversation (or starts one) and shapes the answer.
/// A new conversation is started in-process when this gateway co-hosts the silo (standalone:
/// <paramref name="localStarter"/> is registered), which saves a grain call and its two spans on
/// every one-shot chat; a pure Orleans client (cluster) asks a starter grain on a silo.
/// </summary>
public sealed class ChatService(IGrainFactory grains, IOptions<ModelCatalogOptions> catalog, ClusterCalls cluster, ClientLimiter limiter,
    ConversationStarter? localStarter = null)
{
    // References are immutable and cheap to keep; making one resolves the interface's grain type by name.
    private readonly IConversationStarterGrain?[] _starters = new IConversationStarterGrain?[ConversationStarters.Partitions];

    /// <summary>Largest message accepted, in UTF-8 bytes.</summary>
    public const int MaxMessageBytes = 32 * 1024;

    /// <summary>Longest conversation id accepted.</summary>
    public const int MaxConversationIdLength = 128;

    public async Task<ChatResponse> ChatAsync(ChatInput input, string traceId, Caller caller, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await foreach (var chunk in await OpenAsync(input, traceId, caller, stream: false, cancellationToken))
        {
            if (chunk.Done)
                return new ChatResponse(chunk.Message!, chunk.ConversationId, chunk.BackendUsed!, chunk.ModelUsed!, chunk.Cached == true,
                    chunk.TokensUsed, Stopwatch.GetElapsedTime(started).TotalMilliseconds, traceId, chunk.FallbackReason);
        }
        throw Cut(0, "the answer ended before its last chunk");
    }

    public Task<IAsyncEnumerable<ChatChunk>> StreamAsync(ChatInput input, string traceId, Caller caller, CancellationToken cancellationToken) =>
        OpenAsync(input, traceId, caller, stream: true, cancellationToken);

    /// <summary>
    /// A chat, whichever door it came through: chunk by chunk as the model writes them (<paramref name="stream"/>), or
    /// the whole answer as one last chunk. Bad input and refused admission fail here, before the answer starts; a cluster
    /// failure before the first chunk is retried, one after it ends the answer with an error that says it was cut.
    /// </summary>
    public async Task<IAsyncEnumerable<ChatChunk>> OpenAsync(ChatInput input, string traceId, Caller caller, bool stream, CancellationToken cancellationToken)
    {
        Validate(input);
        var image = input.ImageBase64 is null ? null : ImageInput.Parse(input.ImageBase64);
        var tokens = await limiter.AdmitAsync(caller, input.Message, cancellationToken); // bad input is refused first: it costs the client nothing
        var startsConversation = input.ConversationId is null;
        var conversationId = input.ConversationId ?? ConversationIds.New();
        var command = new ChatCommand(input.Message, input.Model, input.NoCache ?? false, startsConversation, image, RequestIds.New());
        return tokens.Count(AnswerAsync(conversationId, ConversationKeys.For(caller, conversationId), command, traceId, stream, cancellationToken));
    }

    private async IAsyncEnumerable<ChatChunk> AnswerAsync(string conversationId, string key, ChatCommand command, string traceId, bool stream,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        IAsyncEnumerator<ChatPiece> pieces;
        ChatPiece piece;
        try
        {
            // The request's token: a client that disconnects cancels the grain calls and the backend's HTTP call.
            // A retry goes to the conversation itself, which knows the request id if an earlier attempt recorded it.
            (pieces, piece) = await cluster.RunAsync(attempt => OpenAsync(Call(key, command, stream, attempt, cancellationToken), cancellationToken),
                cancellationToken);
        }
        catch (OpossumException ex) when (ex.Code == ErrorCodes.ConversationNotFound)
        {
            throw OpossumException.ConversationNotFound(conversationId);
        }
        await using (pieces)
        {
            var written = 0;
            while (piece.Reply is null)
            {
                written += piece.Delta.Length;
                yield return new ChatChunk(piece.Delta, false, conversationId, traceId, null, piece.Backend, piece.Model, piece.Cached, null, null);
                try
                {
                    if (!await pieces.MoveNextAsync())
                        throw Cut(written, "the stream ended before the last chunk");
                    piece = pieces.Current;
                }
                catch (Exception ex) when (ex is not OpossumException && !cancellationToken.IsCancellationRequested)
                {
                    throw Cut(written, $"the cluster lost the silo that was writing it ({ex.GetType().Name})", ex);
                }
            }
            var reply = piece.Reply;
            yield return new ChatChunk(piece.Delta, true, conversationId, traceId, reply.Message, reply.Backend, reply.Model, reply.Cached,
                reply.TokensUsed, reply.FallbackReason);
        }
    }

    // The grain call that answers: a whole answer is one call (its reply the only chunk), a streamed one the grain's stream.
    private IAsyncEnumerable<ChatPiece> Call(string key, ChatCommand command, bool stream, int attempt, CancellationToken cancellationToken)
    {
        if (command.StartsConversation && attempt == 1)
        {
            if (localStarter is not null)
                return localStarter.AnswerAsync(key, command, stream, cancellationToken);
            var starter = Starter(key);
            return stream ? starter.StartStream(key, command, cancellationToken) : Once(starter.Start(key, command, cancellationToken));
        }
        var conversation = grains.GetGrain<IConversationGrain>(key);
        return stream ? conversation.ChatStream(command, cancellationToken) : Once(conversation.Chat(command, cancellationToken));
    }

    private static async IAsyncEnumerable<ChatPiece> Once(Task<ChatReply> call)
    {
        var reply = await call;
        yield return new ChatPiece(reply.Message, reply.Backend, reply.Model, reply.Cached, reply);
    }

    // A stream is open once its first piece is here: until then a failure is the cluster's to retry.
    private static async Task<(IAsyncEnumerator<ChatPiece> Pieces, ChatPiece First)> OpenAsync(IAsyncEnumerable<ChatPiece> stream, CancellationToken cancellationToken)
    {
        var pieces = stream.GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await pieces.MoveNextAsync())
                throw Cut(0, "the stream ended before its first chunk");
            return (pieces, pieces.Current);
        }
        catch
        {
            await pieces.DisposeAsync();
            throw;
        }
    }

    private static OpossumException Cut(int written, string reason, Exception? inner = null) =>
        inner is null
            ? new(ErrorCodes.BackendUnavailable, $"The answer was cut after {written} characters: {reason}.")
            : new(ErrorCodes.BackendUnavailable, $"The answer was cut after {written} characters: {reason}.", inner);

    private IConversationStarterGrain Starter(string conversationId)
    {
        var key = ConversationStarters.KeyFor(conversationId);
        return _starters[key] ??= grains.GetGrain<IConversationStarterGrain>(key);
    }

    /// <summary>Checks a conversation id from a client: printable, no longer than <see cref="MaxConversationIdLength"/>.</summary>
    public static void ValidateConversationId(string id)
    {
        if (string.IsNullOrWhiteSpace(id))
            throw OpossumException.BadInput("conversationId must not be empty; omit it to start a new conversation.");
        if (id.Length > MaxConversationIdLength || id.Any(char.IsControl))
            throw OpossumException.BadInput($"conversationId must be at most {MaxConversationIdLength} printable characters.");
    }

    private void Validate(ChatInput input)
    {
        if (string.IsNullOrWhiteSpace(input.Message))
            throw OpossumException.BadInput("message must not be empty or whitespace.");
        var bytes = Encoding.UTF8.GetByteCount(input.Message);
        if (bytes > MaxMessageBytes)
            throw OpossumException.BadInput($"message is {bytes} bytes; the limit is {MaxMessageBytes} bytes (32 KiB).");
        if (input.ConversationId is not null)
            ValidateConversationId(input.ConversationId);
        if (input.Model is not null && catalog.Value.Find(input.Model) is null)
            throw new OpossumException(ErrorCodes.ModelNotFound,
                $"Model '{input.Model}' is not configured. Configured models: {string.Join(", ", catalog.Value.Models.Select(m => m.Name))}.");
    }
}
