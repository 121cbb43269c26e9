using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Options;
using Opossum.Grains;
using Opossum.Grains.Conversations;

namespace Opossum.Gateway.Chat;

/// <summary>
/// Validates chat input, hands it to the conversation (or starts one) and shapes the answer.
/// A new conversation is started in-process when this gateway co-hosts the silo (standalone:
/// <paramref name="localStarter"/> is registered), which saves a grain call and its two spans on
/// every one-shot chat; a pure Orleans client (cluster) asks a starter grain on a silo.
/// </summary>
public sealed class ChatService(IGrainFactory grains, IOptions<ModelCatalogOptions> catalog, ClusterCalls cluster, ConversationStarter? localStarter = null)
{
    // References are immutable and cheap to keep; making one resolves the interface's grain type by name.
    private readonly IConversationStarterGrain?[] _starters = new IConversationStarterGrain?[ConversationStarters.Partitions];

    /// <summary>Largest message accepted, in UTF-8 bytes.</summary>
    public const int MaxMessageBytes = 32 * 1024;

    /// <summary>Longest conversation id accepted.</summary>
    public const int MaxConversationIdLength = 128;

    public async Task<ChatResponse> ChatAsync(ChatInput input, string traceId, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        Validate(input);
        var image = input.ImageBase64 is null ? null : ImageInput.Parse(input.ImageBase64);

        var startsConversation = input.ConversationId is null;
        var conversationId = input.ConversationId ?? ConversationIds.New();
        var command = new ChatCommand(input.Message, input.Model, input.NoCache ?? false, startsConversation, image, RequestIds.New());
        // The request's token: a client that disconnects cancels the grain calls and the backend's HTTP call.
        // A retry goes to the conversation itself, which knows the request id if an earlier attempt recorded it.
        var reply = await cluster.RunAsync(attempt => startsConversation && attempt == 1
            ? localStarter?.StartAsync(conversationId, command, cancellationToken) ?? Starter(conversationId).Start(conversationId, command, cancellationToken)
            : grains.GetGrain<IConversationGrain>(conversationId).Chat(command, cancellationToken), cancellationToken);

        return new ChatResponse(reply.Message, reply.ConversationId, reply.Backend, reply.Model, reply.Cached,
            reply.TokensUsed, Stopwatch.GetElapsedTime(started).TotalMilliseconds, traceId, reply.FallbackReason);
    }

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
