using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Opossum.Testing.Backends;

/// <summary>
/// An HTTP server on loopback that speaks Ollama's wire protocol (<c>POST /api/chat</c>,
/// <c>GET /api/tags</c>). Answers "echo: {last user message}" unless told otherwise, and counts
/// what it was asked, so tests and the benchmark assert on what the backend really saw.
/// </summary>
public sealed class FakeOllama : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PreciseDelays? _latency;
    private readonly ConcurrentQueue<ChatCall> _calls = new();
    private readonly ConcurrentDictionary<string, int> _inFlight = new();
    private readonly ConcurrentDictionary<string, int> _maxInFlight = new();

    private FakeOllama(WebApplication app, TimeSpan latency)
    {
        _app = app;
        _latency = latency > TimeSpan.Zero ? new PreciseDelays(latency) : null;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The content of every answer; null (the default): "echo: {last user message}".</summary>
    public string? Answer { get; set; }

    /// <summary>Delay before answering a chat whose last user message contains the key.</summary>
    public ConcurrentDictionary<string, TimeSpan> Delays { get; } = new();

    /// <summary>Status (with an Ollama error body) for a chat whose last user message contains the key.</summary>
    public ConcurrentDictionary<string, (HttpStatusCode Status, string Error)> Failures { get; } = new();

    /// <summary>Status of <c>GET /api/tags</c>; 200 unless a test says otherwise.</summary>
    public HttpStatusCode TagsStatus { get; set; } = HttpStatusCode.OK;

    /// <summary>Delay before <c>GET /api/tags</c> answers.</summary>
    public TimeSpan TagsDelay { get; set; }

    public int TagsCalls;

    /// <summary>Chats whose client went away before the answer was ready.</summary>
    public int Aborted;

    public IReadOnlyCollection<ChatCall> Calls => _calls.ToArray();

    public int CallsContaining(string text) => _calls.Count(c => c.LastUserMessage.Contains(text, StringComparison.Ordinal));

    public int MaxInFlight(string model) => _maxInFlight.GetValueOrDefault(model);

    /// <summary>Starts a server on a free port, or on <paramref name="port"/> (a server that comes back where it was).</summary>
    /// <param name="latency">
    /// How long every chat takes before it is answered (the benchmark's backend), to a fraction of a
    /// millisecond; <see cref="Delays"/> come on top.
    /// </param>
    /// <param name="inline">Requests run on the socket's event thread (see <see cref="LoopbackServer.StartAsync"/>).</param>
    public static async Task<FakeOllama> StartAsync(int port = 0, TimeSpan latency = default, bool inline = false)
    {
        FakeOllama? fake = null;
        var app = await LoopbackServer.StartAsync(app =>
        {
            fake = new FakeOllama(app, latency);
            app.MapPost("/api/chat", fake.ChatAsync);
            app.MapGet("/api/tags", fake.Tags);
        }, port, inline);
        fake!.BaseUrl = app.BaseUrl();
        return fake;
    }

    private async Task<IResult> Tags()
    {
        Interlocked.Increment(ref TagsCalls);
        if (TagsDelay > TimeSpan.Zero)
            await Task.Delay(TagsDelay);
        return TagsStatus == HttpStatusCode.OK
            ? Results.Json(new { models = new[] { new { name = "gemma3:1b", model = "gemma3:1b", size = 815319791 } } })
            : Results.Json(new { error = "tags unavailable" }, statusCode: (int)TagsStatus);
    }

    private async Task<IResult> ChatAsync(HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        var model = body?["model"]?.GetValue<string>() ?? throw new InvalidOperationException("model is required");
        if (body["stream"]?.GetValue<bool>() != false)
            return Results.Json(new { error = "this fake answers only stream: false" }, statusCode: 400);
        var messages = body["messages"]!.AsArray()
            .Select(m => new FakeMessage(m!["role"]!.GetValue<string>(), m["content"]!.GetValue<string>()))
            .ToList();
        var images = body["messages"]!.AsArray().Sum(m => m!["images"]?.AsArray().Count ?? 0);
        var call = new ChatCall(model, messages, images);
        _calls.Enqueue(call);

        var now = _inFlight.AddOrUpdate(model, 1, (_, n) => n + 1);
        _maxInFlight.AddOrUpdate(model, now, (_, max) => Math.Max(max, now));
        try
        {
            if (_latency is not null)
                await _latency.WaitAsync();
            var delay = Delays.Where(d => call.LastUserMessage.Contains(d.Key, StringComparison.Ordinal)).Select(d => d.Value).DefaultIfEmpty().Max();
            if (delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(delay, request.HttpContext.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref Aborted);
                    return Results.Empty;
                }
            }
            foreach (var (key, failure) in Failures)
            {
                if (call.LastUserMessage.Contains(key, StringComparison.Ordinal))
                    return Results.Json(new { error = failure.Error }, statusCode: (int)failure.Status);
            }
            var content = Answer ?? "echo: " + call.LastUserMessage;
            // One write with a Content-Length, as Ollama (Go's net/http) answers a non-streamed chat: not chunked.
            return Results.Bytes(JsonSerializer.SerializeToUtf8Bytes(new
            {
                model,
                created_at = DateTime.UtcNow.ToString("O"),
                message = new { role = "assistant", content },
                done = true,
                done_reason = "stop",
                prompt_eval_count = messages.Sum(m => m.Content.Length),
                eval_count = content.Length,
            }), "application/json; charset=utf-8");
        }
        finally
        {
            _inFlight.AddOrUpdate(model, 0, (_, n) => n - 1);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _latency?.Dispose();
    }
}

public sealed record FakeMessage(string Role, string Content);

public sealed record ChatCall(string Model, IReadOnlyList<FakeMessage> Messages, int Images = 0)
{
    public string LastUserMessage => Messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";
}
