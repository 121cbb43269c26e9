using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.Grains.Conversations;
using Opossum.Grains.Output;

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

    /// <summary>Longest context a stateless chat may send: the text of all its messages, in UTF-8 bytes.</summary>
    public const int MaxContextBytes = 8 * MaxMessageBytes;

    /// <summary>A GraphQL <c>chat</c>: a message of a conversation (a new one unless <see cref="ChatInput.ConversationId"/> names it).</summary>
    public async Task<ChatResponse> ChatAsync(ChatInput input, string traceId, Caller caller, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var chat = await AdmitAsync(input, caller, cancellationToken);
        var reply = await AnswerAsync(chat, cancellationToken);
        return ChatResponse.From(reply, chat.ConversationId!, Stopwatch.GetElapsedTime(started).TotalMilliseconds, traceId);
    }

    /// <summary>
    /// A GraphQL <c>chatStream</c>, chunk by chunk. Bad input fails here, before the stream starts; a cluster failure before the
    /// first chunk is retried like a chat's, one after it ends the stream with an error that says the answer was cut.
    /// </summary>
    public async Task<IAsyncEnumerable<ChatChunk>> StreamAsync(ChatInput input, string traceId, Caller caller, CancellationToken cancellationToken)
    {
        var chat = await AdmitAsync(input, caller, cancellationToken);
        return ChatChunk.From(StreamAsync(chat, cancellationToken), chat.ConversationId!, traceId);
    }

    /// <summary>A stateless chat (the OpenAI and Ollama doors), answered whole; nothing of it is stored.</summary>
    public async Task<ChatReply> AnswerAsync(StatelessChat input, Caller caller, CancellationToken cancellationToken) =>
        await AnswerAsync(await AdmitAsync(input, caller, cancellationToken), cancellationToken);

    /// <summary>A stateless chat chunk by chunk, as <see cref="StreamAsync(ChatInput, string, Caller, CancellationToken)"/>: bad input and refusals fail here, before the stream starts.</summary>
    public async Task<IAsyncEnumerable<ReplyChunk>> StreamAsync(StatelessChat input, Caller caller, CancellationToken cancellationToken) =>
        StreamAsync(await AdmitAsync(input, caller, cancellationToken), cancellationToken);

    /// <summary>
    /// A chat that passed validation and its client's limits, with the command that answers it and the key of its conversation
    /// (a stateless chat's is its request id, which only spreads such chats over the starters).
    /// </summary>
    private readonly record struct AdmittedChat(string? ConversationId, string Key, ChatCommand Command, ChatTokens Tokens)
    {
        /// <summary>
        /// A stateless chat and a new conversation's first attempt are the starter's to answer; a retry of a new conversation's
        /// goes to the conversation itself, since it knows the request id if an earlier attempt recorded it.
        /// </summary>
        public bool StartsAt(int attempt) => Command.Stateless || (Command.StartsConversation && attempt == 1);
    }

    // Bad input is refused first: it costs the client nothing.
    private async ValueTask<AdmittedChat> AdmitAsync(ChatInput input, Caller caller, CancellationToken cancellationToken)
    {
        Validate(input);
        var image = input.ImageBase64 is null ? null : ImageInput.Parse(input.ImageBase64);
        var options = Sampling.Options(input.Temperature, input.TopP, input.MaxTokens, input.Stop, input.Seed, Sampling.GraphQLNames);
        if (input.JsonSchema is { } schema)
        {
            // Refused now if it is not a schema; the answer is always checked against it.
            JsonSchemas.Parse(schema, "jsonSchema");
            options = (options ?? new GenerationOptions()) with { Format = new OutputFormat(schema, Strict: true) };
        }
        var tokens = await limiter.AdmitAsync(caller, input.Message.Length + (input.System?.Length ?? 0), cancellationToken);
        var conversationId = input.ConversationId ?? ConversationIds.New();
        var command = new ChatCommand(input.Message, input.Model, input.NoCache ?? false, input.ConversationId is null, image, RequestIds.New(),
            input.System, options);
        return new AdmittedChat(conversationId, ConversationKeys.For(caller, conversationId), command, tokens);
    }

    private async ValueTask<AdmittedChat> AdmitAsync(StatelessChat input, Caller caller, CancellationToken cancellationToken)
    {
        var last = Validate(input);
        var tokens = await limiter.AdmitAsync(caller, input.Messages.Sum(m => m.Content.Length), cancellationToken);
        var requestId = RequestIds.New();
        var command = new ChatCommand(last.Content, input.Model, input.NoCache, StartsConversation: false, last.Image, requestId,
            Options: input.Options is { IsEmpty: false } options ? options : null, History: input.Messages.Take(input.Messages.Count - 1).ToList());
        return new AdmittedChat(null, requestId, command, tokens);
    }

    private Task<ChatReply> AnswerAsync(AdmittedChat chat, CancellationToken cancellationToken) =>
        chat.Tokens.CountAsync(RunAsync(chat, attempt => chat.StartsAt(attempt)
            ? localStarter?.StartAsync(chat.Key, chat.Command, cancellationToken) ?? Starter(chat.Key).Start(chat.Key, chat.Command, cancellationToken)
            : grains.GetGrain<IConversationGrain>(chat.Key).Chat(chat.Command, cancellationToken), cancellationToken));

    private IAsyncEnumerable<ReplyChunk> StreamAsync(AdmittedChat chat, CancellationToken cancellationToken) =>
        chat.Tokens.Count(ReadAsync(chat, cancellationToken));

    // The grain call that answers, whole or streamed, retried while the cluster fails it. The request's token: a client that
    // disconnects cancels the grain calls and the backend's HTTP call.
    private async Task<T> RunAsync<T>(AdmittedChat chat, Func<int, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await cluster.RunAsync(call, cancellationToken);
        }
        catch (OpossumException ex) when (ex.Code == ErrorCodes.ConversationNotFound && chat.ConversationId is { } id)
        {
            throw OpossumException.ConversationNotFound(id);
        }
    }

    private async IAsyncEnumerable<ReplyChunk> ReadAsync(AdmittedChat chat, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (chunks, chunk) = await RunAsync(chat, attempt => OpenAsync(chat.StartsAt(attempt)
            ? localStarter?.StreamAsync(chat.Key, chat.Command, cancellationToken) ?? Starter(chat.Key).StartStream(chat.Key, chat.Command, cancellationToken)
            : grains.GetGrain<IConversationGrain>(chat.Key).ChatStream(chat.Command, cancellationToken), cancellationToken), cancellationToken);
        await using (chunks)
        {
            var written = 0;
            while (chunk.Reply is null)
            {
                written += chunk.Delta.Length;
                yield return chunk;
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
            yield return chunk;
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
            throw OpossumException.BadInput("message must not be empty or whitespace.", "message");
        CheckSize(input.Message, "message");
        if (input.System is not null)
            CheckSize(input.System, "system");
        if (input.JsonSchema is not null)
            CheckSize(input.JsonSchema, "jsonSchema");
        if (input.ConversationId is not null)
            ValidateConversationId(input.ConversationId);
        if (input.Model is not null)
            CheckModel(input.Model);
    }

    // The door checked the messages' shape and roles; what is checked here holds for every door.
    private ChatMessage Validate(StatelessChat input)
    {
        if (input.Messages.Count == 0)
            throw OpossumException.BadInput("messages must not be empty.", "messages");
        if (input.Messages[^1] is not { Role: "user" } last)
            throw OpossumException.BadInput($"The last message must be the user's, not the {input.Messages[^1].Role}'s.", "messages");
        if (string.IsNullOrWhiteSpace(last.Content) && last.Image is null)
            throw OpossumException.BadInput("The last message must not be empty or whitespace.", "messages");
        var bytes = input.Messages.Sum(m => Encoding.UTF8.GetByteCount(m.Content));
        if (bytes > MaxContextBytes)
            throw OpossumException.BadInput($"The messages are {bytes} bytes of text; the limit is {MaxContextBytes} bytes ({MaxContextBytes / 1024} KiB).", "messages");
        CheckModel(input.Model);
        return last;
    }

    private static void CheckSize(string text, string param)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxMessageBytes)
            throw OpossumException.BadInput($"{param} is {bytes} bytes; the limit is {MaxMessageBytes} bytes (32 KiB).", param);
    }

    private void CheckModel(string model)
    {
        if (catalog.Value.Find(model) is null)
            throw new OpossumException(ErrorCodes.ModelNotFound,
                $"Model '{model}' is not configured. Configured models: {string.Join(", ", catalog.Value.Models.Select(m => m.Name))}.", param: "model");
    }
}
