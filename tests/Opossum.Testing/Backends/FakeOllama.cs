using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Opossum.Testing.Backends;

/// <summary>
/// An HTTP server on loopback that speaks Ollama's wire protocol (<c>POST /api/chat</c>, streamed as
/// NDJSON unless the request says <c>stream: false</c>; <c>GET /api/tags</c>). Answers
/// "echo: {last user message}" unless told otherwise, a word per chunk, and counts what it was asked,
/// so tests and the benchmark assert on what the backend really saw. Its <c>options</c> act as Ollama's do
/// (<see cref="Sampled"/>): <c>stop</c> ends the answer there, <c>num_predict</c> cuts it with <c>done_reason: "length"</c>.
/// Offered <c>tools</c> after a user message, it calls them (<c>message.tool_calls</c>, no text, no ids, as Ollama does);
/// after a tool's result it answers "echo: {result}"; asked a <c>format</c>, it answers JSON (<see cref="JsonAnswers"/>).
/// </summary>
public sealed class FakeOllama : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PreciseDelays? _latency;
    private readonly ConcurrentQueue<ChatCall> _calls = new();
    private readonly ConcurrentDictionary<string, int> _inFlight = new();
    private readonly ConcurrentDictionary<string, int> _maxInFlight = new();
    private readonly ConcurrentDictionary<TaskCompletionSource, (string Text, int Chunks)> _awaitedCalls = new();

    private FakeOllama(WebApplication app, TimeSpan latency)
    {
        _app = app;
        _latency = latency > TimeSpan.Zero ? new PreciseDelays(latency) : null;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The content of every answer; null (the default): "echo: {last user message}".</summary>
    public string? Answer { get; set; }

    /// <summary>The arguments (JSON object text) of the calls to the function named by the key; <c>{}</c> when absent.</summary>
    public ConcurrentDictionary<string, string> ToolArguments { get; } = new();

    /// <summary>How many tool calls an answer makes, to the offered functions in order (cycling).</summary>
    public int ToolCallsPerAnswer { get; set; } = 1;

    /// <summary>Each call carries an <c>id</c> (<c>ollama_call_{n}</c>), as newer Ollama versions write them; none by default.</summary>
    public bool ToolCallIds { get; set; }

    /// <summary>The JSON answer (asked with <c>format</c>) for a chat whose last user message contains the key; else <c>{"echo":"{last user message}"}</c>.</summary>
    public ConcurrentDictionary<string, string> JsonAnswers { get; } = new();

    /// <summary>Delay before answering a chat whose last user message contains the key.</summary>
    public ConcurrentDictionary<string, TimeSpan> Delays { get; } = new();

    /// <summary>Status (with an Ollama error body) for a chat whose last user message contains the key.</summary>
    public ConcurrentDictionary<string, (HttpStatusCode Status, string Error)> Failures { get; } = new();

    /// <summary>Delay between two chunks of a streamed answer.</summary>
    public TimeSpan ChunkDelay { get; set; }

    /// <summary>For a chat whose last user message contains the key: the connection is cut after that many chunks.</summary>
    public ConcurrentDictionary<string, int> CutAfterChunks { get; } = new();

    /// <summary>Status of <c>GET /api/tags</c>; 200 unless a test says otherwise.</summary>
    public HttpStatusCode TagsStatus { get; set; } = HttpStatusCode.OK;

    /// <summary>Delay before <c>GET /api/tags</c> answers.</summary>
    public TimeSpan TagsDelay { get; set; }

    public int TagsCalls;

    /// <summary>Chats whose client went away before the whole answer was written (a stream closed by the client included).</summary>
    public int Aborted;

    /// <summary>Streamed chats cut by the server on purpose (<see cref="CutAfterChunks"/>).</summary>
    public int Cut;

    public IReadOnlyCollection<ChatCall> Calls => _calls.ToArray();

    public int CallsContaining(string text) => _calls.Count(c => c.LastUserMessage.Contains(text, StringComparison.Ordinal));

    public int MaxInFlight(string model) => _maxInFlight.GetValueOrDefault(model);

    /// <summary>
    /// Returns once a chat whose last user message contains <paramref name="text"/> has reached the server and, when
    /// <paramref name="chunks"/> is more than 0, has had that many chunks of its streamed answer written (at once if one has).
    /// </summary>
    /// <exception cref="TimeoutException">None did within <paramref name="timeout"/>.</exception>
    public async Task WaitForCallAsync(string text, TimeSpan timeout, int chunks = 0)
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _awaitedCalls[arrived] = (text, chunks);
        // Registered before looking: progress made in between is either seen here or completes the wait.
        if (_calls.Any(c => c.LastUserMessage.Contains(text, StringComparison.Ordinal) && c.ChunksWritten >= chunks))
            arrived.TrySetResult();
        try
        {
            await arrived.Task.WaitAsync(timeout);
        }
        finally
        {
            _awaitedCalls.TryRemove(arrived, out _);
        }
    }

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

    private async Task ChatAsync(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body);
        var model = body?["model"]?.GetValue<string>() ?? throw new InvalidOperationException("model is required");
        var stream = body["stream"]?.GetValue<bool>() != false; // Ollama streams unless told not to
        var messages = body["messages"]!.AsArray()
            .Select(m => new FakeMessage(m!["role"]!.GetValue<string>(), m["content"]?.GetValue<string>() ?? "",
                m["tool_calls"]?.DeepClone().AsArray(), m["tool_name"]?.GetValue<string>()))
            .ToList();
        var images = body["messages"]!.AsArray().Sum(m => m!["images"]?.AsArray().Count ?? 0);
        var call = new ChatCall(model, messages, images, stream, body["options"]?.AsObject().DeepClone().AsObject(),
            body["tools"]?.DeepClone().AsArray(), body["format"]?.DeepClone());
        _calls.Enqueue(call);
        Progressed(call);

        var now = _inFlight.AddOrUpdate(model, 1, (_, n) => n + 1);
        _maxInFlight.AddOrUpdate(model, now, (_, max) => Math.Max(max, now));
        var aborted = context.RequestAborted;
        try
        {
            if (_latency is not null)
                await _latency.WaitAsync();
            var delay = Delays.Where(d => call.LastUserMessage.Contains(d.Key, StringComparison.Ordinal)).Select(d => d.Value).DefaultIfEmpty().Max();
            if (delay > TimeSpan.Zero)
                await Task.Delay(delay, aborted);
            foreach (var (key, failure) in Failures)
            {
                if (call.LastUserMessage.Contains(key, StringComparison.Ordinal))
                {
                    context.Response.StatusCode = (int)failure.Status;
                    await context.Response.WriteAsJsonAsync(new { error = failure.Error });
                    return;
                }
            }
            var toolCalls = ToolCallsOf(call);
            var (content, cut) = toolCalls is not null ? ("", false) : Sampled.Answer(TextOf(call),
                call.Options?["stop"]?.AsArray().Select(s => s!.GetValue<string>()), call.Options?["num_predict"]?.GetValue<int>());
            var doneReason = cut ? "length" : "stop";
            var promptTokens = messages.Sum(m => m.Content.Length);
            if (!stream)
            {
                // One write with a Content-Length, as Ollama (Go's net/http) answers a non-streamed chat: not chunked.
                var whole = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    model, created_at = DateTime.UtcNow.ToString("O"), message = Message(content, toolCalls),
                    done = true, done_reason = doneReason, prompt_eval_count = promptTokens, eval_count = content.Length,
                });
                context.Response.ContentType = "application/json; charset=utf-8";
                context.Response.ContentLength = whole.Length;
                await context.Response.Body.WriteAsync(whole, aborted);
                return;
            }

            // As Ollama streams: application/x-ndjson, one object per line, the last with done: true and the counts.
            var cutAfter = CutAfterChunks.Where(c => call.LastUserMessage.Contains(c.Key, StringComparison.Ordinal)).Select(c => (int?)c.Value).FirstOrDefault();
            context.Response.ContentType = "application/x-ndjson";
            var written = 0;
            // Ollama streams tool calls whole, in a line of their own.
            var lines = toolCalls is not null ? [Message("", toolCalls)] : StreamedText.Pieces(content).Select(piece => Message(piece, null));
            foreach (var message in lines)
            {
                if (written > 0 && ChunkDelay > TimeSpan.Zero)
                    await Task.Delay(ChunkDelay, aborted);
                if (written == cutAfter)
                {
                    Interlocked.Increment(ref Cut);
                    context.Abort();
                    return;
                }
                await WriteLineAsync(context.Response, new { model, created_at = DateTime.UtcNow.ToString("O"), message, done = false }, aborted);
                written++;
                call.Wrote();
                Progressed(call);
            }
            if (ChunkDelay > TimeSpan.Zero)
                await Task.Delay(ChunkDelay, aborted);
            await WriteLineAsync(context.Response, new
            {
                model, created_at = DateTime.UtcNow.ToString("O"), message = new { role = "assistant", content = "" },
                done = true, done_reason = doneReason, prompt_eval_count = promptTokens, eval_count = content.Length,
            }, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            Interlocked.Increment(ref Aborted);
        }
        catch (IOException) when (aborted.IsCancellationRequested)
        {
            Interlocked.Increment(ref Aborted);
        }
        finally
        {
            _inFlight.AddOrUpdate(model, 0, (_, n) => n - 1);
        }
    }

    // After a tool's result: an answer that shows the result; asked a format: JSON; else the text as always.
    private string TextOf(ChatCall call) =>
        call.Messages is [.., { Role: "tool" } result] ? "echo: " + result.Content
        : call.Format is not null ? ToolAnswers.Json(call.LastUserMessage, JsonAnswers)
        : Answer ?? "echo: " + call.LastUserMessage;

    // Offered tools after a user message: calls as Ollama writes them, arguments an object and no id.
    private JsonArray? ToolCallsOf(ChatCall call)
    {
        if (call.Tools is not { Count: > 0 } tools || call.Messages is not [.., { Role: "user" }])
            return null;
        var functions = tools.Select(t => t!["function"]!["name"]!.GetValue<string>()).ToList();
        return new JsonArray(ToolAnswers.Calls(functions, ToolCallsPerAnswer, ToolArguments)
            .Select((c, i) => (JsonNode)With(new JsonObject { ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments } },
                "id", ToolCallIds ? $"ollama_call_{i}" : null))
            .ToArray());
    }

    private static JsonObject Message(string content, JsonArray? toolCalls) =>
        With(new JsonObject { ["role"] = "assistant", ["content"] = content }, "tool_calls", toolCalls?.DeepClone());

    /// <summary><paramref name="json"/> with the field, when there is a value: as Ollama and Gemini leave out fields they have no value for.</summary>
    internal static JsonObject With(JsonObject json, string field, JsonNode? value)
    {
        if (value is not null)
            json[field] = value;
        return json;
    }

    private void Progressed(ChatCall call)
    {
        if (_awaitedCalls.IsEmpty) return;
        foreach (var (arrived, (text, chunks)) in _awaitedCalls)
        {
            if (call.ChunksWritten >= chunks && call.LastUserMessage.Contains(text, StringComparison.Ordinal))
                arrived.TrySetResult();
        }
    }

    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private static async Task WriteLineAsync(HttpResponse response, object value, CancellationToken cancellationToken)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(value);
        await response.Body.WriteAsync(line, cancellationToken);
        await response.Body.WriteAsync(NewLine, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _latency?.Dispose();
    }
}

/// <summary>A message as sent: an assistant's <see cref="ToolCalls"/> (its <c>tool_calls</c>), a tool's result's <see cref="ToolName"/> (its <c>tool_name</c>).</summary>
public sealed record FakeMessage(string Role, string Content, JsonArray? ToolCalls = null, string? ToolName = null);

/// <summary>
/// One /api/chat request as the fake received it; <see cref="Options"/>: its <c>options</c> object as sent (temperature, top_p,
/// num_predict, stop, seed), if any; <see cref="Tools"/> and <see cref="Format"/>: its <c>tools</c> and <c>format</c> as sent, if any.
/// </summary>
public sealed record ChatCall(string Model, IReadOnlyList<FakeMessage> Messages, int Images = 0, bool Streamed = false, JsonObject? Options = null,
    JsonArray? Tools = null, JsonNode? Format = null)
{
    private int _chunksWritten;

    public string LastUserMessage => Messages.LastOrDefault(m => m.Role == "user")?.Content ?? "";

    /// <summary>Chunks of the streamed answer written so far.</summary>
    public int ChunksWritten => Volatile.Read(ref _chunksWritten);

    internal void Wrote() => Interlocked.Increment(ref _chunksWritten);
}
