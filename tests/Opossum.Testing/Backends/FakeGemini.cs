using System.Diagnostics;
using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Opossum.Testing.Backends;

/// <summary>
/// An HTTP server on loopback that speaks Gemini's REST protocol (<c>generateContent</c>,
/// <c>streamGenerateContent?alt=sse</c> a word per event, <c>GET /v1beta/models</c>), checks the
/// <c>x-goog-api-key</c> header, and can be told to fail the ways Gemini does. Its <c>generationConfig</c> acts as Gemini's
/// does (<see cref="Backends.Sampled"/>): <c>stopSequences</c> end the answer, <c>maxOutputTokens</c> cuts it (finishReason MAX_TOKENS).
/// Offered <c>functionDeclarations</c> (mode not NONE) after a user's text, it calls them (<c>functionCall</c> parts, no ids,
/// finishReason STOP, in one event when streamed); after a <c>functionResponse</c> it answers "echo: {response}"; asked
/// <c>responseMimeType: application/json</c>, it answers JSON (<see cref="JsonAnswers"/>).
/// </summary>
public sealed class FakeGemini : IAsyncDisposable
{
    public const string ApiKey = "AIzaSyFAKE-opossum-test-key-0123456789";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<GeminiCall> _calls = new();

    private FakeGemini(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>How to answer a prompt containing the key.</summary>
    public ConcurrentDictionary<string, GeminiBehaviour> Behaviours { get; } = new();

    public HttpStatusCode ModelsStatus { get; set; } = HttpStatusCode.OK;

    /// <summary>The arguments (JSON object text) of the calls to the function named by the key; <c>{}</c> when absent.</summary>
    public ConcurrentDictionary<string, string> ToolArguments { get; } = new();

    /// <summary>How many function calls an answer makes, to the offered (or allowed) functions in order (cycling).</summary>
    public int ToolCallsPerAnswer { get; set; } = 1;

    /// <summary>Each call carries an <c>id</c> (<c>gemini_call_{n}</c>), as some Gemini models write them; none by default.</summary>
    public bool ToolCallIds { get; set; }

    /// <summary>The JSON answer (asked with <c>responseMimeType: application/json</c>) for a prompt containing the key; else <c>{"echo":"{prompt}"}</c>.</summary>
    public ConcurrentDictionary<string, string> JsonAnswers { get; } = new();

    /// <summary>How long every answer takes unless a behaviour says otherwise.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Delay between two events of a streamed answer.</summary>
    public TimeSpan ChunkDelay { get; set; }

    /// <summary>Streamed answers whose client went away before the last event.</summary>
    public int Aborted;

    private int _inFlight;
    private int _maxInFlight;

    /// <summary>The most generateContent requests that were in progress at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public IReadOnlyCollection<GeminiCall> Calls => _calls.ToArray();

    /// <summary>Every request's path and query, to prove the key never travels in the URL.</summary>
    public ConcurrentQueue<string> RequestTargets { get; } = new();

    public int CallsContaining(string text) => _calls.Count(c => c.LastUserText.Contains(text, StringComparison.Ordinal));

    public static async Task<FakeGemini> StartAsync()
    {
        FakeGemini? fake = null;
        var app = await LoopbackServer.StartAsync(app => fake = Map(app));
        fake!.BaseUrl = app.BaseUrl();
        return fake;
    }

    private static FakeGemini Map(WebApplication app)
    {
        var fake = new FakeGemini(app);
        app.Use(async (context, next) =>
        {
            fake.RequestTargets.Enqueue(context.Request.Path + context.Request.QueryString);
            if (context.Request.Headers["x-goog-api-key"] != ApiKey)
            {
                context.Response.StatusCode = 400;
                await context.Response.WriteAsJsonAsync(new { error = new { code = 400, message = "API key not valid. Please pass a valid API key.", status = "INVALID_ARGUMENT" } });
                return;
            }
            await next();
        });
        app.MapGet("/v1beta/models", fake.Models);
        app.MapPost("/v1beta/models/{*target}", fake.GenerateAsync);
        return fake;
    }

    private IResult Models() => ModelsStatus == HttpStatusCode.OK
        ? Results.Json(new { models = new[] { new { name = "models/gemini-2.0-flash" } } })
        : Results.Json(new { error = new { code = (int)ModelsStatus, message = "backend error", status = "UNAVAILABLE" } }, statusCode: (int)ModelsStatus);

    private async Task GenerateAsync(string target, HttpContext context)
    {
        var streamed = target.EndsWith(":streamGenerateContent", StringComparison.Ordinal);
        if (streamed && context.Request.Query["alt"] != "sse")
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { error = new { code = 400, message = "this fake streams only with alt=sse", status = "INVALID_ARGUMENT" } });
            return;
        }
        if (!streamed && !target.EndsWith(":generateContent", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }
        var result = await AnswerAsync(target[..target.LastIndexOf(':')], context.Request);
        if (streamed && result is OneEvent one)
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync($"data: {System.Text.Json.JsonSerializer.Serialize(one.Body)}\r\n\r\n");
            return;
        }
        if (result is not StreamedAnswer answer)
        {
            await result.ExecuteAsync(context);
            return;
        }
        if (!streamed)
        {
            await Results.Json(answer.Whole).ExecuteAsync(context);
            return;
        }
        // As Gemini streams with alt=sse: one GenerateContentResponse per event, the last with finishReason and the usage.
        // An answer withheld for safety ends with an event of its own that has a finishReason and no content.
        context.Response.ContentType = "text/event-stream";
        var aborted = context.RequestAborted;
        try
        {
            var pieces = StreamedText.Pieces(answer.Text).ToList();
            for (var i = 0; i < pieces.Count; i++)
            {
                if (i > 0 && ChunkDelay > TimeSpan.Zero)
                    await Task.Delay(ChunkDelay, aborted);
                var last = i == pieces.Count - 1 && !answer.Withheld;
                object candidate = last
                    ? new { content = new { role = "model", parts = new[] { new { text = pieces[i] } } }, finishReason = answer.FinishReason }
                    : new { content = new { role = "model", parts = new[] { new { text = pieces[i] } } } };
                await WriteEventAsync(context.Response, new { candidates = new[] { candidate }, usageMetadata = answer.Usage }, aborted);
            }
            if (answer.Withheld)
                await WriteEventAsync(context.Response, new { candidates = new[] { answer.WithheldCandidate }, usageMetadata = answer.Usage }, aborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            Interlocked.Increment(ref Aborted);
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, object body, CancellationToken cancellationToken)
    {
        await response.WriteAsync($"data: {System.Text.Json.JsonSerializer.Serialize(body)}\r\n\r\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    // An answer that is a single response body, or a single event when streamed.
    private sealed record OneEvent(object Body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext) => Results.Json(Body).ExecuteAsync(httpContext);
    }

    /// <summary>An answer as Gemini writes it: streamed, <see cref="Text"/> a word per event; <see cref="Withheld"/>: what it wrote before it stopped for safety.</summary>
    private sealed record StreamedAnswer(string Text, object Usage, string FinishReason = "STOP") : IResult
    {
        public bool Withheld => FinishReason == "SAFETY";

        // Gemini withholds the text of a candidate it stopped for safety and says why in its ratings.
        public object WithheldCandidate => new
        {
            finishReason = FinishReason,
            safetyRatings = new[] { new { category = "HARM_CATEGORY_DANGEROUS_CONTENT", probability = "HIGH", blocked = true } },
        };

        public object Whole => Withheld
            ? new { candidates = new[] { WithheldCandidate }, usageMetadata = Usage }
            : new
            {
                candidates = new[] { new { content = new { role = "model", parts = new[] { new { text = Text } } }, finishReason = FinishReason } },
                usageMetadata = Usage,
            };

        public Task ExecuteAsync(HttpContext httpContext) => Results.Json(Whole).ExecuteAsync(httpContext);
    }

    private async Task<IResult> AnswerAsync(string model, HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        var contents = body!["contents"]!.AsArray();
        var parts = contents[^1]!["parts"]!.AsArray();
        // The prompt: the last text the user wrote, which a turn of function responses does not change.
        var prompt = contents.Where(c => c!["role"]?.GetValue<string>() is null or "user")
            .SelectMany(c => c!["parts"]!.AsArray()).Where(p => p!["text"] is not null).Select(p => p!["text"]!.GetValue<string>()).LastOrDefault();
        var call = new GeminiCall(
            model,
            contents.Select(c => c!["role"]?.GetValue<string>() ?? "").ToList(),
            prompt ?? "",
            parts.Where(p => p!["inline_data"] is not null).Select(p => p!["inline_data"]!["mime_type"]!.GetValue<string>()).ToList(),
            body["systemInstruction"]?["parts"]?[0]?["text"]?.GetValue<string>(),
            body["generationConfig"]?.AsObject().DeepClone().AsObject(),
            body["tools"]?.DeepClone(),
            body["toolConfig"]?.DeepClone(),
            contents.DeepClone().AsArray());
        _calls.Enqueue(call);

        var (tag, behaviour) = Behaviours.FirstOrDefault(b => call.LastUserText.Contains(b.Key, StringComparison.Ordinal));
        var now = Interlocked.Increment(ref _inFlight);
        for (int max; now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max;) { }
        try
        {
            var delay = behaviour?.Delay ?? Delay;
            if (behaviour is { HoldUntilCalls: > 0 } hold)
            {
                // Held until that many calls for the tag are here (at most the delay): all in flight at once, however slow the machine.
                var held = Stopwatch.StartNew();
                while (CallsContaining(tag) < hold.HoldUntilCalls && held.Elapsed < delay)
                    await Task.Delay(10, request.HttpContext.RequestAborted);
            }
            else if (delay > TimeSpan.Zero)
                await Task.Delay(delay, request.HttpContext.RequestAborted);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
        if (behaviour?.Kind == GeminiFailure.RateLimited)
        {
            // Gemini's quota error: 429 RESOURCE_EXHAUSTED, the wait in google.rpc.RetryInfo (and here also in Retry-After).
            if (behaviour.RetryAfterHeader)
                request.HttpContext.Response.Headers.RetryAfter = ((int)behaviour.RetryAfter.TotalSeconds).ToString();
            return Results.Json(new
            {
                error = new
                {
                    code = 429,
                    message = "You exceeded your current quota, please check your plan and billing details.",
                    status = "RESOURCE_EXHAUSTED",
                    details = new object[]
                    {
                        new Dictionary<string, object> { ["@type"] = "type.googleapis.com/google.rpc.QuotaFailure", ["violations"] = new[] { new { quotaMetric = "generativelanguage.googleapis.com/generate_content_free_tier_requests" } } },
                        new Dictionary<string, object> { ["@type"] = "type.googleapis.com/google.rpc.RetryInfo", ["retryDelay"] = $"{behaviour.RetryAfter.TotalSeconds:0}s" },
                    },
                },
            }, statusCode: 429);
        }
        return behaviour?.Kind switch
        {
            GeminiFailure.ServerError => Results.Json(new { error = new { code = 503, message = "The model is overloaded.", status = "UNAVAILABLE" } }, statusCode: 503),
            GeminiFailure.EmptyCandidates => new OneEvent(new { candidates = Array.Empty<object>(), usageMetadata = new { promptTokenCount = 4 } }),
            GeminiFailure.Blocked => new OneEvent(new { promptFeedback = new { blockReason = "SAFETY" }, usageMetadata = new { promptTokenCount = 4 } }),
            GeminiFailure.Safety => new StreamedAnswer("gemini: ", new { promptTokenCount = 7, candidatesTokenCount = 2, totalTokenCount = 9 }, "SAFETY"),
            _ => (IResult?)FunctionCalls(call) ?? Sampled(call, TextOf(call)),
        };
    }

    // After function responses: an answer that shows the last; asked for JSON: JSON; else the text as always.
    private string TextOf(GeminiCall call) =>
        call.Contents![^1]!["parts"]!.AsArray().LastOrDefault(p => p!["functionResponse"] is not null) is { } result
            ? "echo: " + result["functionResponse"]!["response"]!.ToJsonString()
            : call.GenerationConfig?["responseMimeType"]?.GetValue<string>() == "application/json" ? ToolAnswers.Json(call.LastUserText, JsonAnswers)
            : "gemini: " + call.LastUserText;

    // Offered functions (mode not NONE) after a user's text: functionCall parts as Gemini writes them, without ids; with
    // mode ANY and allowedFunctionNames, only those are called.
    private OneEvent? FunctionCalls(GeminiCall call)
    {
        var config = call.ToolConfig?["functionCallingConfig"];
        var mode = config?["mode"]?.GetValue<string>() ?? "AUTO";
        var offered = call.Tools?.AsArray().SelectMany(t => t!["functionDeclarations"]?.AsArray() ?? []).Select(f => f!["name"]!.GetValue<string>()).ToList();
        var last = call.Contents![^1]!;
        if (offered is not { Count: > 0 } || mode == "NONE" || last["role"]?.GetValue<string>() is not (null or "user")
            || !last["parts"]!.AsArray().Any(p => p!["text"] is not null))
            return null;
        var allowed = mode == "ANY" ? config?["allowedFunctionNames"]?.AsArray().Select(n => n!.GetValue<string>()).ToList() : null;
        var parts = ToolAnswers.Calls(allowed is { Count: > 0 } ? allowed : offered, ToolCallsPerAnswer, ToolArguments)
            .Select((c, i) => (JsonNode)new JsonObject
            {
                ["functionCall"] = FakeOllama.With(new JsonObject { ["name"] = c.Name, ["args"] = c.Arguments }, "id", ToolCallIds ? $"gemini_call_{i}" : null),
            });
        return new OneEvent(new
        {
            candidates = new[] { new { content = new { role = "model", parts = new JsonArray(parts.ToArray()) }, finishReason = "STOP" } },
            usageMetadata = new { promptTokenCount = 7, candidatesTokenCount = 5, totalTokenCount = 12 },
        });
    }

    // generationConfig as Gemini honours it: stopSequences end the answer, maxOutputTokens cuts it (finishReason MAX_TOKENS).
    private static StreamedAnswer Sampled(GeminiCall call, string answer)
    {
        var config = call.GenerationConfig;
        var (text, cut) = Backends.Sampled.Answer(answer,
            config?["stopSequences"]?.AsArray().Select(s => s!.GetValue<string>()), config?["maxOutputTokens"]?.GetValue<int>());
        return cut
            ? new StreamedAnswer(text, new { promptTokenCount = 7, candidatesTokenCount = text.Length, totalTokenCount = 7 + text.Length }, "MAX_TOKENS")
            : new StreamedAnswer(text, new { promptTokenCount = 7, candidatesTokenCount = 5, totalTokenCount = 12 });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
