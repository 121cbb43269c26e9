using System.Diagnostics;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Backends;

/// <summary>The <c>{service}.generate</c> span and GenAI metrics every backend records the same way.</summary>
public sealed class BackendSpan : IDisposable
{
    private readonly Activity? _activity;
    private readonly string _service;
    private readonly string _apiName;
    private readonly long _started = Stopwatch.GetTimestamp();
    private int _chunks;

    private readonly bool _stream;

    public BackendSpan(string service, ModelDefinition model, GenerationRequest request, Uri url, bool stream)
    {
        _stream = stream;
        _service = service;
        _apiName = model.ApiName;
        var messages = request.Messages;
        var image = messages.LastOrDefault()?.Image;
        _activity = Source.StartActivity($"{service}.generate", ActivityKind.Client);
        if (_activity is null) return;
        _activity.SetTag(Tags.PromptLength, messages.Sum(m => m.Content.Length));
        _activity.SetTag(Tags.ModelName, model.ApiName);
        _activity.SetTag(Tags.HttpUrl, url.ToString());
        _activity.SetTag(Tags.HttpMethod, "POST");
        _activity.SetTag(Tags.HasImage, image is not null);
        if (image is not null) _activity.SetTag(Tags.ImageSize, image.Data.Length);
        _activity.SetTag(Tags.GenAiOperationName, "chat");
        _activity.SetTag(Tags.GenAiProviderName, service);
        _activity.SetTag(Tags.GenAiRequestModel, model.ApiName);
        _activity.SetTag(Tags.GenAiRequestStream, stream);
        if (request.Options is not { } options) return;
        _activity.SetTag(Tags.GenAiRequestTemperature, options.Temperature);
        _activity.SetTag(Tags.GenAiRequestTopP, options.TopP);
        _activity.SetTag(Tags.GenAiRequestMaxTokens, options.MaxTokens);
        _activity.SetTag(Tags.GenAiRequestSeed, options.Seed);
        if (options.Stop is { Count: > 0 } stop)
            _activity.SetTag(Tags.GenAiRequestStopSequences, stop.ToArray());
    }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    public void Responded(int statusCode)
    {
        _activity?.SetTag(Tags.HttpStatusCode, statusCode);
        _activity?.SetTag(Tags.HttpResponseTime, Elapsed.TotalSeconds);
    }

    /// <summary>A chunk of the answer arrived: of a streamed call, the first one's time is the time to first chunk; the last one completes the call.</summary>
    public void Received(GenerationChunk chunk)
    {
        if (_chunks++ == 0 && _stream)
        {
            var first = Elapsed.TotalSeconds;
            _activity?.SetTag(Tags.GenAiTimeToFirstChunk, first);
            TimeToFirstChunk.Record(first, new(Tags.GenAiOperationName, "chat"), new(Tags.GenAiProviderName, _service), new(Tags.GenAiRequestModel, _apiName));
        }
        if (chunk.Completed is { } generation)
            Succeeded(generation);
    }

    private void Succeeded(Generation generation)
    {
        _activity?.SetTag(Tags.ResponseLength, generation.Content.Length);
        _activity?.SetTag(Tags.GenAiInputTokens, generation.InputTokens);
        _activity?.SetTag(Tags.GenAiOutputTokens, generation.OutputTokens);
        if (generation.FinishReason is { } finishReason)
            _activity?.SetTag(Tags.GenAiResponseFinishReasons, new[] { finishReason });
        KeyValuePair<string, object?> provider = new(Tags.GenAiProviderName, _service), requested = new(Tags.GenAiRequestModel, _apiName);
        if (generation.InputTokens is { } input)
            TokenUsage.Record(input, provider, requested, new(Tags.GenAiTokenType, "input"));
        if (generation.OutputTokens is { } output)
            TokenUsage.Record(output, provider, requested, new(Tags.GenAiTokenType, "output"));
    }

    public void Failed(Exception exception) => _activity.RecordFailure(exception);

    public void Dispose()
    {
        var elapsed = Elapsed.TotalSeconds;
        _activity?.SetTag(Tags.DurationSeconds, elapsed);
        _activity?.SetTag(Tags.ResponseChunks, _chunks);
        OperationDuration.Record(elapsed,
            new(Tags.GenAiOperationName, "chat"), new(Tags.GenAiProviderName, _service), new(Tags.GenAiRequestModel, _apiName));
        _activity?.Dispose();
    }
}
