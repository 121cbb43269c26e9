using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Grains.Telemetry;

/// <summary>
/// Every ActivitySource, Meter and instrument Opossum records with, created once; their names are
/// <see cref="TelemetrySources"/>, which <c>AddOpossumTelemetry</c> registers.
/// </summary>
public static class OpossumTelemetry
{
    public const string Name = TelemetrySources.Opossum;

    public static readonly ActivitySource Source = new(Name, typeof(OpossumTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(Name);

    /// <summary>The gateway's GraphQL operations, one span each (<c>GraphQLExecutor.StartActivity</c>).</summary>
    public static readonly ActivitySource GraphQL = new(TelemetrySources.GraphQL);

    public static readonly Counter<long> CacheHits =
        Meter.CreateCounter<long>("opossum.cache.hits", description: "Chat answers served from the response cache.");
    public static readonly Counter<long> CacheMisses =
        Meter.CreateCounter<long>("opossum.cache.misses", description: "Chat requests the response cache could not answer.");
    public static readonly Histogram<double> OperationDuration =
        Meter.CreateHistogram<double>("gen_ai.client.operation.duration", "s", "Duration of GenAI operations (backend calls).");
    public static readonly Histogram<double> TimeToFirstChunk =
        Meter.CreateHistogram<double>("gen_ai.client.operation.time_to_first_chunk", "s",
            "Time from a GenAI request (a backend call) to the first chunk of its streamed answer.");
    public static readonly Histogram<long> TokenUsage =
        Meter.CreateHistogram<long>("gen_ai.client.token.usage", "{token}", "Tokens used by GenAI operations, by type (input/output).");

    public static readonly Histogram<double> SlotWait =
        Meter.CreateHistogram<double>("opossum.slot.wait.duration", "s", "Time a generation waited for a free slot on a backend server.");

    public static readonly Counter<long> Refused =
        Meter.CreateCounter<long>("opossum.requests.refused", description: "Requests refused for a missing or unknown key, a missing admin key, a limit, or a document's cost or depth.");

    private static readonly ConcurrentDictionary<string, int> ServiceAvailability = new(StringComparer.Ordinal);

    static OpossumTelemetry()
    {
        Meter.CreateObservableGauge("opossum.service.available", ObserveAvailability,
            description: "1 when the backend service is available (ONLINE or DEGRADED), else 0.");
    }

    /// <summary>Publishes a service's availability for the <c>opossum.service.available</c> gauge.</summary>
    public static void SetServiceAvailable(string service, bool available) => ServiceAvailability[service] = available ? 1 : 0;

    private static IEnumerable<Measurement<int>> ObserveAvailability() =>
        ServiceAvailability.Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>(Tags.Service, kv.Key)));

    /// <summary>Marks a span as failed with the exception recorded, as the telemetry contract asks.</summary>
    public static void RecordFailure(this Activity? activity, Exception exception)
    {
        if (activity is null) return;
        activity.AddException(exception);
        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
    }

    /// <summary>Span and metric attribute names.</summary>
    public static class Tags
    {
        public const string PromptLength = "prompt.length";
        public const string ModelName = "model.name";
        public const string DurationSeconds = "duration_seconds";
        public const string ResponseLength = "response.length";
        public const string HttpUrl = "http.url";
        public const string HttpMethod = "http.method";
        public const string HttpStatusCode = "http.status_code";
        public const string HttpResponseTime = "http.response_time";
        public const string HasImage = "has_image";
        public const string ImageSize = "image.size";
        public const string ServiceAvailable = "service.available";
        public const string CacheKey = "cache.key";
        public const string CacheHit = "cache.hit";
        public const string CacheLayer = "cache.layer";
        public const string Service = "service";
        public const string GenAiOperationName = "gen_ai.operation.name";
        public const string GenAiProviderName = "gen_ai.provider.name";
        public const string GenAiRequestModel = "gen_ai.request.model";
        public const string GenAiRequestStream = "gen_ai.request.stream";
        public const string GenAiRequestTemperature = "gen_ai.request.temperature";
        public const string GenAiRequestTopP = "gen_ai.request.top_p";
        public const string GenAiRequestMaxTokens = "gen_ai.request.max_tokens";
        public const string GenAiRequestSeed = "gen_ai.request.seed";
        public const string GenAiRequestStopSequences = "gen_ai.request.stop_sequences";
        /// <summary>Why the model stopped, one per choice (Opossum asks for one): <see cref="FinishReasons"/>.</summary>
        public const string GenAiResponseFinishReasons = "gen_ai.response.finish_reasons";
        public const string GenAiTimeToFirstChunk = "gen_ai.response.time_to_first_chunk";
        public const string ResponseChunks = "response.chunks";
        /// <summary>How many tool calls the answer gave out (after <see cref="GenerationOptions.ParallelToolCalls"/> false kept the first).</summary>
        public const string ResponseToolCalls = "response.tool_calls";
        /// <summary>The error code of a failure recorded as an event: <see cref="ErrorCodes"/>.</summary>
        public const string ErrorType = "error.type";
        /// <summary>Where an answer did not match its schema: JSON Pointers under <c>content</c> or <c>tool_calls[i].arguments</c>, never values.</summary>
        public const string OutputFailedPaths = "output.failed_paths";
        public const string GenAiInputTokens = "gen_ai.usage.input_tokens";
        public const string GenAiOutputTokens = "gen_ai.usage.output_tokens";
        public const string GenAiTokenType = "gen_ai.token.type";
        public const string ServerAddress = "server.address";
        public const string SlotWaitSeconds = "slot.wait_seconds";
        /// <summary>The name of the API key a request came with (never the key).</summary>
        public const string ApiKeyName = "api_key.name";
        /// <summary>Why a request was refused: unauthenticated, forbidden, rate_limited, query_too_complex.</summary>
        public const string RefusalReason = "reason";
    }

    /// <summary>Span event names of the telemetry contract.</summary>
    public static class Events
    {
        /// <summary>A checked answer did not match the caller's schema (<see cref="ErrorCodes.InvalidModelOutput"/>).</summary>
        public const string OutputCheckFailed = "output_check_failed";
    }

    /// <summary>Span names of the telemetry contract.</summary>
    public static class Spans
    {
        public const string ModelGenerate = "model.generate";
        public const string ServiceCheck = "service.check";
        public const string CacheGet = "cache.get";
    }
}
