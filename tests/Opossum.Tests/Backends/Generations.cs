using System.Diagnostics;
using System.Text.RegularExpressions;
using Opossum.Grains;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;

namespace Opossum.Tests.Backends;

/// <summary>Runs a real backend against its loopback server and keeps what it gave out, chunk by chunk, and the spans it recorded.</summary>
public static partial class Generations
{
    public static readonly ToolDefinition Weather = new("get_weather", "The weather in a city",
        """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""");

    public static readonly ToolDefinition Time = new("get_time", null, """{"type":"object","properties":{}}""");

    public static async Task<List<GenerationChunk>> RunAsync(IChatBackend backend, string model, bool stream, GenerationOptions? options,
        params ChatMessage[] messages)
    {
        var definition = new ModelDefinition { Name = model, Backend = backend.Name };
        var chunks = new List<GenerationChunk>();
        await foreach (var chunk in backend.GenerateAsync(backend.Servers[0], definition, new GenerationRequest(model, messages, options), stream,
                           CancellationToken.None))
            chunks.Add(chunk);
        return chunks;
    }

    /// <summary>The generation the last chunk completed.</summary>
    public static Generation Completed(this List<GenerationChunk> chunks) => Assert.IsType<Generation>(chunks[^1].Completed);

    /// <summary>Every call the chunks gave out as they came, in order.</summary>
    public static List<ToolCall> StreamedCalls(this List<GenerationChunk> chunks) => chunks.SelectMany(c => c.ToolCalls ?? []).ToList();

    /// <summary>An id the gateway made for a call that came without one.</summary>
    public static void AssertGeneratedId(string id) => Assert.Matches(GeneratedId(), id);

    [GeneratedRegex("^call_[0-9a-f]{24}$")]
    private static partial Regex GeneratedId();

    /// <summary>The backend spans ended while <paramref name="run"/> ran whose URL is under <paramref name="server"/>.</summary>
    public static async Task<List<Activity>> SpansAsync(Uri server, Func<Task> run)
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OpossumTelemetry.Source.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem(OpossumTelemetry.Tags.HttpUrl) is string url && url.StartsWith(server.ToString(), StringComparison.Ordinal))
                    lock (spans) spans.Add(activity);
            },
        };
        ActivitySource.AddActivityListener(listener);
        await run();
        lock (spans) return [.. spans];
    }
}
