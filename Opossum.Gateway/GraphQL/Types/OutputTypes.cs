using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Protection;
using Opossum.Gateway.Chat;
using Opossum.Grains;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class ChatResponseType : ObjectGraphType<ChatResponse>
{
    public ChatResponseType()
    {
        Name = "ChatResponse";
        Field(x => x.Message).WithComplexityImpact(DocumentCost.TextCost);
        Field(x => x.ConversationId, type: typeof(NonNullGraphType<IdGraphType>));
        Field(x => x.BackendUsed);
        Field(x => x.ModelUsed);
        Field(x => x.Cached);
        Field(x => x.TokensUsed, nullable: true);
        Field(x => x.DurationMs);
        Field(x => x.TraceId);
        Field(x => x.FallbackReason, nullable: true)
            .Description("Why the first-choice model did not answer (null when it did): each model tried before the one that answered, with its failure.");
        Field(x => x.FinishReason, nullable: true).Description(FinishReasonText);
        Field(x => x.InputTokens, nullable: true).Description("Tokens of the prompt, as the backend counted them.");
        Field(x => x.OutputTokens, nullable: true).Description("Tokens of the answer, as the backend counted them.");
    }

    internal const string FinishReasonText = "Why the model stopped: \"stop\" (done, or a stop sequence), \"length\" (maxTokens or the model's limit), \"content_filter\" (the backend withheld it); null when the backend did not say.";
}

public sealed class ChatChunkType : ObjectGraphType<ChatChunk>
{
    public ChatChunkType()
    {
        Name = "ChatChunk";
        Description = "One chunk of a streamed answer, as the model writes it.";
        Field(x => x.Delta).Description("Text added since the previous chunk (may be empty on the last).");
        Field(x => x.Done).Description("True on the last chunk only.");
        Field(x => x.ConversationId, type: typeof(NonNullGraphType<IdGraphType>));
        Field(x => x.TraceId);
        Field(x => x.Message, nullable: true).Description("The whole answer: on the last chunk only.").WithComplexityImpact(DocumentCost.TextCost);
        Field(x => x.BackendUsed, nullable: true).Description("Known once the first chunk arrives; always on the last.");
        Field(x => x.ModelUsed, nullable: true);
        Field(x => x.Cached, nullable: true);
        Field(x => x.TokensUsed, nullable: true).Description("On the last chunk.");
        Field(x => x.FallbackReason, nullable: true)
            .Description("Why the first-choice model did not answer (null when it did): on the last chunk.");
        Field(x => x.FinishReason, nullable: true).Description(ChatResponseType.FinishReasonText + " On the last chunk.");
        Field(x => x.InputTokens, nullable: true).Description("On the last chunk.");
        Field(x => x.OutputTokens, nullable: true).Description("On the last chunk.");
    }
}

public sealed class ServiceStateType : EnumerationGraphType<ServiceState>
{
    public ServiceStateType() => Name = "ServiceState";
}

/// <summary>The fields a service and each of its servers share.</summary>
internal static class AvailabilityFields
{
    public static void AddTo<T>(ObjectGraphType<T> type) where T : IAvailabilityFacts
    {
        type.Field<NonNullGraphType<BooleanGraphType>>("available").Resolve(ctx => ctx.Source.Available);
        type.Field<NonNullGraphType<ServiceStateType>>("state").Resolve(ctx => ctx.Source.State);
        type.Field<DateTimeGraphType>("lastChecked").Resolve(ctx => ctx.Source.LastChecked?.UtcDateTime);
        type.Field<StringGraphType>("lastError").Resolve(ctx => ctx.Source.LastError);
        type.Field<NonNullGraphType<IntGraphType>>("consecutiveFailures").Resolve(ctx => ctx.Source.ConsecutiveFailures);
        type.Field<FloatGraphType>("latencyMs").Resolve(ctx => ctx.Source.LatencyMs);
    }
}

public sealed class ServiceHealthType : ObjectGraphType<ServiceHealth>
{
    public ServiceHealthType()
    {
        Name = "ServiceHealth";
        Field(x => x.Name);
        AvailabilityFields.AddTo(this);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<BackendServerType>>>>("servers")
            .Description("The backend's servers (an Ollama server, the Gemini API), each with its own circuit and slots.")
            .Resolve(ctx => ctx.Source.Servers ?? []);
    }
}

public sealed class BackendServerType : ObjectGraphType<ServerHealth>
{
    public BackendServerType()
    {
        Name = "BackendServer";
        Field(x => x.Url);
        AvailabilityFields.AddTo(this);
        Field(x => x.InFlight).Description("Generations running on this server now, cluster-wide.");
        Field(x => x.Parallelism).Description("Generations this server runs at once at most, cluster-wide.");
        Field<DateTimeGraphType>("throttledUntil").Description("The server answered 429: no traffic until then.")
            .Resolve(ctx => ctx.Source.ThrottledUntil?.UtcDateTime);
    }
}

public sealed class ServiceStatusType : ObjectGraphType<ServiceStatusView>
{
    public ServiceStatusType()
    {
        Name = "ServiceStatus";
        Field(x => x.OllamaAvailable);
        Field(x => x.GeminiAvailable);
        Field(x => x.AllServicesAvailable);
        Field<DateTimeGraphType>("lastChecked").Resolve(ctx => ctx.Source.LastChecked);
    }
}

public sealed class ModelInfoType : ObjectGraphType<ModelView>
{
    public ModelInfoType()
    {
        Name = "ModelInfo";
        Field(x => x.Name);
        Field(x => x.Backend);
        Field(x => x.ApiName);
        Field(x => x.Available);
        Field(x => x.SupportsImages);
        Field(x => x.SupportsTools).Description("Takes tool definitions and calls (the OpenAI and Ollama doors' tools); a request with tools goes only to such models.");
        Field(x => x.SupportsSchemas).Description("Takes a JSON Schema for its answer (jsonSchema); a request with one goes only to such models.");
    }
}

public sealed class CacheStatsType : ObjectGraphType<CacheCounts>
{
    public CacheStatsType()
    {
        Name = "CacheStats";
        Field<NonNullGraphType<IntGraphType>>("hits").Resolve(ctx => (int)Math.Min(ctx.Source.Hits, int.MaxValue));
        Field<NonNullGraphType<IntGraphType>>("misses").Resolve(ctx => (int)Math.Min(ctx.Source.Misses, int.MaxValue));
        Field(x => x.HitRatio);
    }
}

public sealed class ConversationType : ObjectGraphType<ConversationView>
{
    public ConversationType()
    {
        Name = "Conversation";
        Field(x => x.Id, type: typeof(NonNullGraphType<IdGraphType>));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<TurnType>>>>("turns").Resolve(ctx => ctx.Source.Turns);
    }
}

public sealed class TurnType : ObjectGraphType<Turn>
{
    public TurnType()
    {
        Name = "Turn";
        Field(x => x.Role);
        Field(x => x.Content).WithComplexityImpact(DocumentCost.TextCost);
        Field(x => x.Model, nullable: true);
        Field<NonNullGraphType<DateTimeGraphType>>("at").Resolve(ctx => ctx.Source.At.UtcDateTime);
    }
}

public sealed class TraceSummaryType : ObjectGraphType<TraceSummary>
{
    public TraceSummaryType()
    {
        Name = "TraceSummary";
        Field(x => x.TraceId);
        Field(x => x.RootName);
        Field<NonNullGraphType<DateTimeGraphType>>("startTime").Resolve(ctx => ctx.Source.StartTime);
        Field(x => x.DurationMs);
        Field(x => x.SpanCount);
        Field(x => x.Status);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("services").Resolve(ctx => ctx.Source.Services);
    }
}

/// <summary>A caller's counts with its limits, as the <c>usage</c> query shows them.</summary>
public sealed record Usage(Protection.Caller Caller, ClientLimits Limits, ClientUsage Counts);

public sealed class UsageType : ObjectGraphType<Usage>
{
    public UsageType()
    {
        Name = "Usage";
        Description = "Where the calling client stands against its limits (per key; per client address when the server has no keys).";
        Field<NonNullGraphType<StringGraphType>>("key").Description("The calling key's name (never the key); without keys, ip: and the client's address.")
            .Resolve(ctx => ctx.Source.Caller.Name);
        Field<NonNullGraphType<IntGraphType>>("chatsThisMinute").Description("Chats started in this UTC minute (counted while a chat limit is set).").Resolve(ctx => ctx.Source.Counts.ChatsThisMinute);
        Field<IntGraphType>("chatsPerMinute").Description("Chats allowed per minute; null: no limit.").Resolve(ctx => ctx.Source.Limits.ChatsPerMinute);
        Field<NonNullGraphType<DateTimeGraphType>>("minuteResetsAt").Description("When the count of chats starts again.")
            .Resolve(ctx => ctx.Source.Counts.MinuteEndsAt.UtcDateTime);
        Field<NonNullGraphType<LongGraphType>>("tokensToday")
            .Description("Tokens this client's chats used today (UTC), counted while a daily budget is set: what the backends reported, else an estimate of what was generated (a stream its client left included); cached answers use none.")
            .Resolve(ctx => ctx.Source.Counts.TokensToday);
        Field<NonNullGraphType<LongGraphType>>("tokensReserved").Description("Tokens held for this client's chats under way until they end: a chat is admitted only while tokensToday and these are under the budget.")
            .Resolve(ctx => ctx.Source.Counts.TokensReserved);
        Field<LongGraphType>("tokensPerDay").Description("Tokens allowed per day; null: no limit.").Resolve(ctx => ctx.Source.Limits.TokensPerDay);
        Field<NonNullGraphType<DateTimeGraphType>>("dayResetsAt").Description("When the count of tokens starts again (00:00 UTC).")
            .Resolve(ctx => ctx.Source.Counts.DayEndsAt.UtcDateTime);
    }
}
