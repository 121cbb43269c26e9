using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Opossum.Gateway.GraphQL.Http;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Bench;

/// <summary>Small Kestrel servers the harness needs: Ollama's and Gemini's protocols with a fixed latency, an OTLP sink, the ceiling endpoint.</summary>
public static partial class Servers
{
    /// <param name="inline">
    /// Run requests on the socket's event thread (Kestrel's <c>UnsafePreferInlineScheduling</c>) instead of
    /// handing them to the thread pool: right for the loopback backend, whose handler is short and never
    /// blocks and whose every hop would be charged to the gateway; not for the ceiling, which is measured
    /// as shipped, nor for the OTLP sink, whose large bodies would hold up the load generator's sockets.
    /// </param>
    /// <param name="configure">More services, e.g. <see cref="AddTelemetry"/>.</param>
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map, int port = 0, bool inline = false,
        Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        if (inline)
            builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        configure?.Invoke(builder);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    public static Uri Address(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Answers <c>/api/chat</c> after <paramref name="latency"/>, counting calls per prompt.</summary>
    public sealed class Ollama(TimeSpan latency)
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new();
        private readonly PreciseDelays _delays = new();

        public int CallsFor(string prompt) => _calls.GetValueOrDefault(prompt);

        public void Map(WebApplication app)
        {
            app.MapGet("/api/tags", () => Results.Json(new { models = new[] { new { name = "gemma3:1b" } } }));
            app.MapPost("/api/chat", async (HttpRequest request) =>
            {
                var body = await JsonNode.ParseAsync(request.Body);
                var prompt = body!["messages"]!.AsArray()[^1]!["content"]!.GetValue<string>();
                _calls.AddOrUpdate(prompt, 1, (_, n) => n + 1);
                await _delays.Delay(latency);
                // One write with a Content-Length, as Ollama (Go's net/http) answers a non-streamed chat: not chunked.
                return Results.Bytes(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new
                {
                    model = body["model"]!.GetValue<string>(),
                    message = new { role = "assistant", content = Answer },
                    done = true,
                    prompt_eval_count = prompt.Length,
                    eval_count = Answer.Length,
                }), "application/json; charset=utf-8");
            });
        }
    }

    /// <summary>
    /// Gemini's REST API: <c>POST /v1beta/models/{model}:generateContent</c> answered after
    /// <paramref name="latency"/>, <c>GET /v1beta/models</c> for the availability check; both refuse a
    /// request without the <see cref="ApiKey"/> in <c>x-goog-api-key</c>, as Gemini does. It counts its
    /// calls and the most it ever had in flight at once: the capacity the gateway gave it.
    /// </summary>
    public sealed class Gemini(TimeSpan latency)
    {
        public const string ApiKey = "bench-gemini-key";

        /// <summary>The API name of <c>gemini-thinking</c> in the gateway's default catalogue.</summary>
        public const string Model = "gemini-2.0-flash";

        private readonly PreciseDelays _delays = new();
        private int _inFlight;
        private int _maxInFlight;
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        public int MaxInFlight => Volatile.Read(ref _maxInFlight);

        public void Map(WebApplication app)
        {
            app.Use(async (context, next) =>
            {
                if (context.Request.Headers["x-goog-api-key"] != ApiKey)
                {
                    await Error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT").ExecuteAsync(context);
                    return;
                }
                await next();
            });
            app.MapGet("/v1beta/models", () => Results.Json(new { models = new[] { new { name = $"models/{Model}" } } }));
            app.MapPost("/v1beta/models/{model}:generateContent", GenerateAsync);
        }

        private async Task<IResult> GenerateAsync(string model, HttpRequest request)
        {
            if (model != Model)
                return Error(404, $"models/{model} is not found for API version v1beta.", "NOT_FOUND");
            var body = await JsonNode.ParseAsync(request.Body);
            var prompt = body!["contents"]!.AsArray()[^1]!["parts"]!.AsArray()[0]!["text"]!.GetValue<string>();
            Interlocked.Increment(ref _calls);
            var inFlight = Interlocked.Increment(ref _inFlight);
            for (var max = MaxInFlight; inFlight > max; max = MaxInFlight)
                Interlocked.CompareExchange(ref _maxInFlight, inFlight, max);
            try
            {
                await _delays.Delay(latency);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
            return Results.Bytes(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new
            {
                candidates = new[] { new { content = new { role = "model", parts = new[] { new { text = Answer } } }, finishReason = "STOP", index = 0 } },
                usageMetadata = new { promptTokenCount = prompt.Length / 4, candidatesTokenCount = Answer.Length / 4, totalTokenCount = (prompt.Length + Answer.Length) / 4 },
                modelVersion = Model,
            }), "application/json; charset=UTF-8");
        }

        private static IResult Error(int code, string message, string status) =>
            Results.Json(new { error = new { code, message, status } }, statusCode: code);
    }

    /// <summary>
    /// Delays accurate to a fraction of a millisecond. Task.Delay rides the runtime's timer queue, which
    /// on this machine fires 2-3 ms late (Task.Delay(50) takes 52.4 ms at p50), and Monitor.Wait takes
    /// whole milliseconds; the backend's latency must be the configured one, or the gateway would be
    /// charged for the timer's lateness. Every delay of one server has the same length, so deadlines
    /// arrive in order: one thread sleeps (usleep) until the oldest is due. Its timer slack is 1 ns
    /// instead of Linux's default 50 µs, and it sends the answer itself (the continuation runs on it)
    /// rather than waking a thread-pool thread to do so: what the backend adds beyond its latency is
    /// charged to every miss, and is not the gateway's overhead.
    /// </summary>
    private sealed partial class PreciseDelays
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<(long At, TaskCompletionSource Done)> _due = new();
        private readonly SemaphoreSlim _queued = new(0);

        public PreciseDelays() => new Thread(Run) { IsBackground = true, Name = "backend delays" }.Start();

        public Task Delay(TimeSpan delay)
        {
            var done = new TaskCompletionSource();
            _due.Enqueue((System.Diagnostics.Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency), done));
            _queued.Release();
            return done.Task;
        }

        private void Run()
        {
            if (OperatingSystem.IsLinux())
                prctl(PrSetTimerSlack, 1);
            while (true)
            {
                _queued.Wait();
                _due.TryDequeue(out var next);
                var remaining = System.Diagnostics.Stopwatch.GetElapsedTime(System.Diagnostics.Stopwatch.GetTimestamp(), next.At);
                if (remaining > TimeSpan.Zero)
                    Sleep(remaining);
                next.Done.TrySetResult();
            }
        }

        private static void Sleep(TimeSpan time)
        {
            if (OperatingSystem.IsLinux())
                usleep((uint)Math.Ceiling(time.TotalMicroseconds));
            else
                Thread.Sleep((int)Math.Ceiling(time.TotalMilliseconds));
        }

        [System.Runtime.InteropServices.LibraryImport("libc")]
        private static partial int usleep(uint microseconds);

        private const int PrSetTimerSlack = 29;

        [System.Runtime.InteropServices.LibraryImport("libc")]
        private static partial int prctl(int option, nuint value);
    }

    /// <summary>A typical short answer (~200 bytes).</summary>
    public const string Answer = "Opossums are marsupials native to the Americas. They eat ticks, play dead when threatened, and are largely immune to snake venom. The Virginia opossum is the only one found north of Mexico.";

    /// <summary>
    /// Accepts OTLP posts, counts the spans that arrive and throws them away. It stands in for a
    /// collector on another machine, so it costs the shared cores as little as it can: each body is
    /// read as the gateway reads its requests (<see cref="RequestBodies"/>: in Kestrel's pooled pipe
    /// buffers when it arrives in one read) and scanned there (a body of hundreds of spans is over the
    /// large object threshold: a fresh, growing buffer per post kept the harness's background GC busy).
    /// </summary>
    public sealed class Sink
    {
        private long _spans;

        public long Spans => Interlocked.Read(ref _spans);

        public void Map(WebApplication app)
        {
            app.MapPost("/v1/traces", async (HttpRequest r) =>
            {
                Interlocked.Add(ref _spans, await RequestBodies.ReadWholeAsync(r.BodyReader, 0, static (_, body) => CountSpans(body), default));
                return Results.Ok();
            });
            app.MapPost("/v1/metrics", async (HttpRequest r) => { await r.Body.CopyToAsync(Stream.Null); return Results.Ok(); });
        }

        private static long CountSpans(ReadOnlySequence<byte> body)
        {
            if (body.IsSingleSegment)
                return CountSpans(body.FirstSpan);
            // The scan needs one span: a body spread over the pipe's segments is copied into a pooled array once.
            var pool = ArrayPool<byte>.Shared;
            var copy = pool.Rent(checked((int)body.Length));
            try
            {
                body.CopyTo(copy);
                return CountSpans(copy.AsSpan(0, (int)body.Length));
            }
            finally
            {
                pool.Return(copy);
            }
        }

        /// <summary>Spans in an ExportTraceServiceRequest: resource_spans = 1 { scope_spans = 2 { spans = 2 } }, all length-delimited.</summary>
        private static long CountSpans(ReadOnlySpan<byte> request)
        {
            long spans = 0;
            var resourceSpans = new FieldReader(request, 1);
            while (resourceSpans.Next(out var resource))
            {
                var scopeSpans = new FieldReader(resource, 2);
                while (scopeSpans.Next(out var scope))
                {
                    var inScope = new FieldReader(scope, 2);
                    while (inScope.Next(out _))
                        spans++;
                }
            }
            return spans;
        }

        /// <summary>The length-delimited fields numbered <c>number</c> of one protobuf message, in order; other fields are skipped.</summary>
        private ref struct FieldReader(ReadOnlySpan<byte> message, int number)
        {
            private readonly ReadOnlySpan<byte> _message = message;
            private int _at;

            public bool Next(out ReadOnlySpan<byte> field)
            {
                while (_at < _message.Length)
                {
                    var key = Varint();
                    switch ((int)(key & 7))
                    {
                        case 0: Varint(); break;
                        case 1: _at += 8; break;
                        case 5: _at += 4; break;
                        case 2:
                            var length = (int)Varint();
                            var start = _at;
                            _at += length;
                            if ((int)(key >> 3) == number)
                            {
                                field = _message.Slice(start, length);
                                return true;
                            }
                            break;
                        default: throw new InvalidDataException($"unexpected protobuf wire type {key & 7}");
                    }
                }
                field = default;
                return false;
            }

            private ulong Varint()
            {
                ulong value = 0;
                for (var shift = 0; ; shift += 7)
                {
                    var b = _message[_at++];
                    value |= (ulong)(b & 0x7f) << shift;
                    if (b < 0x80) return value;
                }
            }
        }
    }

    /// <summary>
    /// Opossum's telemetry wiring as the gateway has it, configured as the gateway is (its <c>OTEL_*</c>
    /// variables): traces of the ASP.NET Core instrumentation exported over OTLP, the trace summaries,
    /// ASP.NET Core and runtime metrics for both readers. On the ceiling, what full tracing costs an
    /// endpoint that does nothing else.
    /// </summary>
    public static void AddTelemetry(WebApplicationBuilder builder)
    {
        builder.Configuration.AddOpossumEnvironment();
        builder.AddOpossumTelemetry();
    }

    /// <summary>The ceiling: a bare endpoint that reads the request and answers a fixed JSON body.</summary>
    public static void MapCeiling(WebApplication app, int bodyBytes)
    {
        var prefix = "{\"data\":{\"chat\":{\"message\":\"";
        var suffix = "\"}}}";
        var body = Encoding.UTF8.GetBytes(prefix + new string('x', Math.Max(0, bodyBytes - prefix.Length - suffix.Length)) + suffix);
        app.MapPost("/graphql", async (HttpContext context) =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/graphql-response+json; charset=utf-8";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
    }
}
