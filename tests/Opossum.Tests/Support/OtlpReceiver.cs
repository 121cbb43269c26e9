using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Opossum.Tests.Support;

/// <summary>
/// An OTLP/HTTP receiver on loopback: accepts protobuf <c>ExportTraceServiceRequest</c> bodies on
/// <c>/v1/traces</c> (and counts <c>/v1/metrics</c> posts), decoding the fields tests look at.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<OtlpSpan> Spans { get; } = new();

    public int MetricsPosts;

    public int TracePosts;

    private volatile TaskCompletionSource? _stalled;

    /// <summary>Trace posts are received but not answered until <see cref="Resume"/>: a collector that has stalled.</summary>
    public void Stall() => _stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Resume() => Interlocked.Exchange(ref _stalled, null)?.TrySetResult();

    public static async Task<OtlpReceiver> StartAsync()
    {
        OtlpReceiver? receiver = null;
        var (_, url) = await LoopbackServer.StartAsync(app => receiver = Map(app));
        receiver!.BaseUrl = url;
        return receiver;
    }

    private static OtlpReceiver Map(WebApplication app)
    {
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            if (request.ContentType != "application/x-protobuf") return Results.StatusCode(415);
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            if (receiver._stalled is { } stalled)
                await stalled.Task;
            // Decoded whole before any is enqueued, so a reader waits for a post's spans, not for the decoder.
            foreach (var span in OtlpDecoder.Spans(buffer.ToArray()).ToList())
                receiver.Spans.Enqueue(span);
            Interlocked.Increment(ref receiver.TracePosts);
            return Results.Ok();
        });
        app.MapPost("/v1/metrics", () =>
        {
            Interlocked.Increment(ref receiver.MetricsPosts);
            return Results.Ok();
        });
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        Resume();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name, IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource);

/// <summary>A minimal protobuf reader for the parts of opentelemetry/proto/trace/v1 that tests need.</summary>
public static class OtlpDecoder
{
    // ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, scope_spans = 2;
    // Resource.attributes = 1; ScopeSpans.spans = 2; Span: trace_id = 1, span_id = 2, parent_span_id = 4,
    // name = 5, attributes = 9; KeyValue: key = 1, value = 2; AnyValue: string = 1, bool = 2, int = 3, double = 4.
    public static IEnumerable<OtlpSpan> Spans(byte[] body)
    {
        foreach (var resourceSpans in Fields(body).Where(f => f.Number == 1))
        {
            var fields = Fields(resourceSpans.Bytes!).ToList();
            var resource = fields.Where(f => f.Number == 1).SelectMany(r => Attributes(r.Bytes!)).ToDictionary();
            foreach (var scopeSpans in fields.Where(f => f.Number == 2))
            foreach (var span in Fields(scopeSpans.Bytes!).Where(f => f.Number == 2))
            {
                var s = Fields(span.Bytes!).ToList();
                yield return new OtlpSpan(
                    Hex(s, 1), Hex(s, 2), Hex(s, 4),
                    Encoding.UTF8.GetString(s.FirstOrDefault(f => f.Number == 5).Bytes ?? []),
                    Attributes(span.Bytes!, 9).ToDictionary(), resource);
            }
        }
    }

    private static string Hex(List<Field> fields, int number) =>
        Convert.ToHexStringLower(fields.FirstOrDefault(f => f.Number == number).Bytes ?? []);

    private static IEnumerable<KeyValuePair<string, string>> Attributes(byte[] message, int number = 1) =>
        Fields(message).Where(f => f.Number == number && f.Bytes is not null).Select(kv =>
        {
            var parts = Fields(kv.Bytes!).ToList();
            var key = Encoding.UTF8.GetString(parts.First(p => p.Number == 1).Bytes!);
            var value = parts.FirstOrDefault(p => p.Number == 2).Bytes is { } any ? AnyValue(any) : "";
            return new KeyValuePair<string, string>(key, value);
        });

    private static string AnyValue(byte[] any)
    {
        var field = Fields(any).FirstOrDefault();
        return field.Number switch
        {
            1 => Encoding.UTF8.GetString(field.Bytes!),
            2 => (field.Varint != 0).ToString(),
            3 => ((long)field.Varint).ToString(),
            4 => BitConverter.Int64BitsToDouble((long)field.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => "",
        };
    }

    private readonly record struct Field(int Number, byte[]? Bytes, ulong Varint);

    private static IEnumerable<Field> Fields(byte[] message)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = ReadVarint(message, ref position);
            var number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    yield return new Field(number, null, ReadVarint(message, ref position));
                    break;
                case 1:
                    yield return new Field(number, null, BitConverter.ToUInt64(message, position));
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref position);
                    yield return new Field(number, message[position..(position + length)], 0);
                    position += length;
                    break;
                case 5:
                    yield return new Field(number, null, BitConverter.ToUInt32(message, position));
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {tag & 7}");
            }
        }
    }

    private static ulong ReadVarint(byte[] data, ref int position)
    {
        ulong result = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }
}
