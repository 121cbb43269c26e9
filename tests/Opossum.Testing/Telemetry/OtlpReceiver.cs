using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Opossum.Testing.Telemetry;

/// <summary>
/// An OTLP/HTTP receiver on loopback: accepts protobuf <c>ExportTraceServiceRequest</c> bodies on
/// <c>/v1/traces</c> (and counts <c>/v1/metrics</c> posts), counting their spans and decoding the fields
/// tests look at.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _decode;
    private long _spanCount;
    private volatile TaskCompletionSource? _stalled;

    private OtlpReceiver(WebApplication app, bool decode)
    {
        _app = app;
        _decode = decode;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The spans received, decoded; empty unless started with <c>decodeSpans</c>.</summary>
    public ConcurrentQueue<OtlpSpan> Spans { get; } = new();

    /// <summary>Every span received, decoded or not.</summary>
    public long SpanCount => Interlocked.Read(ref _spanCount);

    public int MetricsPosts;

    public int TracePosts;

    /// <summary>Trace posts are received but not answered until <see cref="Resume"/>: a collector that has stalled.</summary>
    public void Stall() => _stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Resume() => Interlocked.Exchange(ref _stalled, null)?.TrySetResult();

    /// <param name="decodeSpans">
    /// Decode every span into <see cref="Spans"/>, as tests read them; false: only count them, which costs
    /// the cores the benchmark shares with the gateway as little as a collector on another machine would.
    /// </param>
    public static async Task<OtlpReceiver> StartAsync(bool decodeSpans = true)
    {
        OtlpReceiver? receiver = null;
        var app = await LoopbackServer.StartAsync(app =>
        {
            receiver = new OtlpReceiver(app, decodeSpans);
            app.MapPost("/v1/traces", receiver.TracesAsync);
            app.MapPost("/v1/metrics", receiver.MetricsAsync);
        });
        receiver!.BaseUrl = app.BaseUrl();
        return receiver;
    }

    private async Task<IResult> TracesAsync(HttpRequest request)
    {
        if (request.ContentType != "application/x-protobuf") return Results.StatusCode(StatusCodes.Status415UnsupportedMediaType);
        // The exporter states each body's length. A body of hundreds of spans is over the large-object
        // threshold: read into a pooled array, not a fresh one per post, it does not keep the GC busy.
        if (request.ContentLength is not { } length) return Results.StatusCode(StatusCodes.Status411LengthRequired);
        var body = ArrayPool<byte>.Shared.Rent(checked((int)length));
        try
        {
            await request.Body.ReadExactlyAsync(body.AsMemory(0, (int)length), request.HttpContext.RequestAborted);
            if (_stalled is { } stalled)
                await stalled.Task;
            Receive(body.AsSpan(0, (int)length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
        Interlocked.Increment(ref TracePosts);
        return Results.Ok();
    }

    private void Receive(ReadOnlySpan<byte> request)
    {
        if (!_decode)
        {
            Interlocked.Add(ref _spanCount, OtlpDecoder.CountSpans(request));
            return;
        }
        // Decoded whole before any is enqueued, so a reader waits for a post's spans, not for the decoder.
        var spans = OtlpDecoder.Spans(request);
        foreach (var span in spans)
            Spans.Enqueue(span);
        Interlocked.Add(ref _spanCount, spans.Count);
    }

    private async Task<IResult> MetricsAsync(HttpRequest request)
    {
        await request.Body.CopyToAsync(Stream.Null, request.HttpContext.RequestAborted);
        Interlocked.Increment(ref MetricsPosts);
        return Results.Ok();
    }

    public async ValueTask DisposeAsync()
    {
        Resume();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name, IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource);
