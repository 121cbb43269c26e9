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
        var chat = await AdmitAsync(input, caller, cancellationToken);
        var reply = await chat.Tokens.CountAsync(AnswerAsync(chat, attempt => chat.StartsAt(attempt)
            ? localStarter?.StartAsync(chat.Key, chat.Command, cancellationToken) ?? Starter(chat.Key).Start(chat.Key, chat.Command, cancellationToken)
            : grains.GetGrain<IConversationGrain>(chat.Key).Chat(chat.Command, cancellationToken), cancellationToken));
        return new ChatResponse(reply.Message, chat.ConversationId, reply.Backend, reply.Model, reply.Cached,
            reply.TokensUsed, Stopwatch.GetElapsedTime(started).TotalMilliseconds, traceId, reply.FallbackReason);
    }

    /// <summary>
    /// The answer chunk by chunk. Bad input fails here, before the stream starts; a cluster failure before the
    /// first chunk is retried like a chat's, one after it ends the stream with an error that says the answer was cut.
    /// </summary>
    public async Task<IAsyncEnumerable<ChatChunk>> StreamAsync(ChatInput input, string traceId, Caller caller, CancellationToken cancellationToken)
    {
        var chat = await AdmitAsync(input, caller, cancellationToken);
        return chat.Tokens.Count(StreamAsync(chat, traceId, cancellationToken));
    }

    /// <summary>A chat that passed validation and its client's limits, with the command its conversation is to answer.</summary>
    private readonly record struct AdmittedChat(string ConversationId, string Key, ChatCommand Command, ChatTokens Tokens)
    {
        /// <summary>A new conversation's starter answers the first attempt; the conversation itself a retry, since it knows the request id if an earlier attempt recorded it.</summary>
        public bool StartsAt(int attempt) => Command.StartsConversation && attempt == 1;
    }

    // Bad input is refused first: it costs the client nothing.
    private async ValueTask<AdmittedChat> AdmitAsync(ChatInput input, Caller caller, CancellationToken cancellationToken)
    {
        Validate(input);
        var image = input.ImageBase64 is null ? null : ImageInput.Parse(input.ImageBase64);
        var tokens = await limiter.AdmitAsync(caller, input.Message, cancellationToken);
        var conversationId = input.ConversationId ?? ConversationIds.New();
        var command = new ChatCommand(input.Message, input.Model, input.NoCache ?? false, input.ConversationId is null, image, RequestIds.New());
        return new AdmittedChat(conversationId, ConversationKeys.For(caller, conversationId), command, tokens);
    }

    // The grain call that answers, whole or streamed, retried while the cluster fails it. The request's token: a client that
    // disconnects cancels the grain calls and the backend's HTTP call.
    private async Task<T> AnswerAsync<T>(AdmittedChat chat, Func<int, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await cluster.RunAsync(call, cancellationToken);
        }
        catch (OpossumException ex) when (ex.Code == ErrorCodes.ConversationNotFound)
        {
            throw OpossumException.ConversationNotFound(chat.ConversationId);
        }
    }

    private async IAsyncEnumerable<ChatChunk> StreamAsync(AdmittedChat chat, string traceId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (chunks, chunk) = await AnswerAsync(chat, attempt => OpenAsync(chat.StartsAt(attempt)
            ? localStarter?.StreamAsync(chat.Key, chat.Command, cancellationToken) ?? Starter(chat.Key).StartStream(chat.Key, chat.Command, cancellationToken)
            : grains.GetGrain<IConversationGrain>(chat.Key).ChatStream(chat.Command, cancellationToken), cancellationToken), cancellationToken);
        await using (chunks)
        {
            var written = 0;
            while (chunk.Reply is null)
            {
                written += chunk.Delta.Length;
                yield return new ChatChunk(chunk.Delta, false, chat.ConversationId, traceId, null, chunk.Backend, chunk.Model, chunk.Cached, null, null);
                try
                {
                    if (!await chunks.MoveNextAsync())
                        throw Cut(written, "the stream ended before the last chunk");
                    chunk = chunks.Current;
                }
                catch (Exception ex) when (ex is not OpossumException && !cancellationToken.IsCancellationRequested)
                {
                    throw Cut(written, $"the cluster lost the silo that was writing it ({ex.GetType().Name})", ex);
                }
            }
            var reply = chunk.Reply;
            yield return new ChatChunk(chunk.Delta, true, chat.ConversationId, traceId, reply.Message, reply.Backend, reply.Model, reply.Cached,
                reply.TokensUsed, reply.FallbackReason);
        }
    }

    // A stream is open once its first chunk is here: until then a failure is the cluster's to retry.
    private static async Task<(IAsyncEnumerator<ReplyChunk> Chunks, ReplyChunk First)> OpenAsync(IAsyncEnumerable<ReplyChunk> stream, CancellationToken cancellationToken)
    {
        var chunks = stream.GetAsyncEnumerator(cancellationToken);
        try
        {
            if (!await chunks.MoveNextAsync())
                throw Cut(0, "the stream ended before its first chunk");
            return (chunks, chunks.Current);
        }
        catch
        {
            await chunks.DisposeAsync();
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
