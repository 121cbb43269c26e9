using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Backends.Gemini;

/// <summary>
/// Gemini over its REST API: <c>POST /v1beta/models/{apiName}:generateContent</c> (<c>:streamGenerateContent?alt=sse</c> streamed) to generate,
/// <c>GET /v1beta/models</c> to check. The key travels only in the <c>x-goog-api-key</c> header and
/// is scrubbed from every reason this class produces.
/// </summary>
public sealed class GeminiBackend(HttpClient http, IOptions<GeminiOptions> options) : IChatBackend
{
    private const string KeyHeader = "x-goog-api-key";

    public string Name => BackendNames.Gemini;

    public bool Enabled => Options.Enabled;

    private GeminiOptions Options => options.Value;

    public IReadOnlyList<BackendServer> Servers => _servers ??= Options.Servers;
    private IReadOnlyList<BackendServer>? _servers;

    public TimeSpan RequestTimeout => Options.RequestTimeout;

    public TimeSpan QueueTimeout => Options.QueueTimeout;

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(BackendServer server, ModelDefinition model, GenerationRequest request,
        bool stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
        var url = BackendUrls.Combine(server.Url, $"v1beta/models/{Uri.EscapeDataString(model.ApiName)}:{method}");
        using var span = new BackendSpan(BackendNames.Gemini, model, request, url, stream);
        var chunks = BackendCall.StreamAsync(span, Options.RequestTimeout, token => ReadAsync(url, model, request, stream, span, token),
            ex => Failure(BackendFailures.Describe(ex, server.Url, Options.RequestTimeout, cancellationToken), serviceFault: true),
            cancellationToken);
        await foreach (var chunk in chunks)
            yield return chunk;
    }

    // Server-sent events, each a GenerateContentResponse with the text added since the previous one; the last has a finishReason.
    private async IAsyncEnumerable<GenerationChunk> ReadAsync(Uri url, ModelDefinition model, GenerationRequest generation, bool stream,
        BackendSpan span, [EnumeratorCancellation] CancellationToken token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(GeminiRequests.ToWire(generation), GeminiJsonContext.Default.GeminiRequest)),
        };
        request.Content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
        request.Headers.Add(KeyHeader, Options.ApiKey);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
        span.Responded((int)response.StatusCode);
        if (!response.IsSuccessStatusCode)
            throw await HttpFailureAsync(response, token);

        await using var body = await response.Content.ReadAsStreamAsync(token);
        var text = new StringBuilder();
        // Gemini writes each call whole, as a part; each is given out with the chunk it came in.
        List<ToolCall> toolCalls = [];
        GeminiUsage? usage = null;
        var candidates = false;
        var events = new ServerSentEvents();
        // Not streamed, the whole answer is one response: read as the one event of a stream.
        var batches = stream ? LineBatches.ReadAsync(body, token) : WholeAsync(body, token);
        await foreach (var lines in batches)
        {
            var start = text.Length;
            var before = toolCalls.Count;
            string? finished = null;
            foreach (var data in events.Read(lines))
            {
                var part = JsonSerializer.Deserialize(data, GeminiJsonContext.Default.GeminiResponse)
                           ?? throw Failure("an event of the answer was null", serviceFault: false);
                if (part.Error is { } error)
                    throw BackendFailures.ForStatus(BackendNames.Gemini, error.Code ?? 500, Scrub($"error in the stream{Describe(error)}"), RetryDelay(error));
                if (part.PromptFeedback?.BlockReason is { Length: > 0 } blocked)
                    throw Failure($"the prompt was blocked ({blocked})", serviceFault: false);
                usage = part.UsageMetadata ?? usage;
                var first = part.Candidates is { Count: > 0 } some ? some[0] : null;
                candidates |= first is not null;
                text.Append(string.Concat(first?.Content?.Parts?.Select(p => p.Text) ?? []));
                foreach (var call in first?.Content?.Parts?.Select(p => p.FunctionCall).OfType<GeminiFunctionCall>() ?? [])
                {
                    if (call.Name is { Length: > 0 } name && ToolWire.Takes(generation.Options, toolCalls))
                        toolCalls.Add(new ToolCall(call.Id is { Length: > 0 } id ? id : ToolWire.NewId(), name, ToolWire.Arguments(call.Args)));
                }
                if (first?.FinishReason is { Length: > 0 } reason)
                {
                    finished = reason;
                    break;
                }
            }
            var delta = text.ToString(start, text.Length - start);
            var calls = ToolWire.Since(toolCalls, before);
            if (finished is not null)
            {
                var all = ToolWire.Since(toolCalls, 0);
                // Gemini says STOP when it calls functions; the client is told it waits for their results.
                var reason = all is null ? FinishReason(finished) : FinishReasons.ToolCalls;
                // An answer withheld or cut before its first word is still an answer that says why; one that just stopped empty is not.
                if (text.Length == 0 && reason == FinishReasons.Stop)
                    throw Failure($"the candidate had no text (finishReason {finished})", serviceFault: false);
                yield return new GenerationChunk(delta, new Generation(text.ToString(), BackendNames.Gemini, model.Name,
                    usage?.PromptTokenCount, usage?.CandidatesTokenCount, reason, ToolCalls: all), ToolCalls: calls);
                yield break;
            }
            if (delta.Length > 0 || calls is not null)
                yield return new GenerationChunk(delta, ToolCalls: calls);
        }
        if (!candidates)
            throw Failure("the answer had no candidates", serviceFault: false);
        throw BackendFailures.Cut(BackendNames.Gemini, text.Length == 0 ? "the stream ended before any text" : $"the stream ended after {text.Length} characters, before a finishReason");
    }

    public async Task CheckAsync(BackendServer server, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.CheckTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, BackendUrls.Combine(server.Url, "v1beta/models?pageSize=1"));
            request.Headers.Add(KeyHeader, Options.ApiKey);
            using var response = await http.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw new BackendCheckException(Scrub($"GET /v1beta/models answered HTTP {(int)response.StatusCode}{Describe((await ReadErrorAsync(response, timeout.Token))?.Error)}"));
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
        {
            throw new BackendCheckException(Scrub(BackendFailures.Describe(ex, server.Url, Options.CheckTimeout, cancellationToken)));
        }
    }

    // Gemini's FinishReason (https://ai.google.dev/api/generate-content#FinishReason) in OpenAI's words.
    private static string FinishReason(string finishReason) => finishReason switch
    {
        "MAX_TOKENS" => FinishReasons.Length,
        "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" => FinishReasons.ContentFilter,
        _ => FinishReasons.Stop,
    };

    private static async IAsyncEnumerable<List<string>> WholeAsync(Stream body, [EnumeratorCancellation] CancellationToken token)
    {
        using var reader = new StreamReader(body, Encoding.UTF8);
        var json = await reader.ReadToEndAsync(token);
        yield return ["data: " + json.ReplaceLineEndings(" "), ""];
    }

    // A 429 says how long to wait in the Retry-After header or in the error's google.rpc.RetryInfo.
    private async Task<OpossumException> HttpFailureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var error = (await ReadErrorAsync(response, cancellationToken))?.Error;
        var reason = Scrub($"HTTP {status}{Describe(error)}");
        var retryAfter = BackendFailures.RetryAfter(response) ?? RetryDelay(error);
        return BackendFailures.ForStatus(BackendNames.Gemini, status, reason, retryAfter);
    }

    private static string Describe(GeminiError? error) =>
        error is null ? "" : $" {error.Status}: {BackendFailures.Truncate(error.Message ?? "")}".TrimEnd(' ', ':');

    private static TimeSpan? RetryDelay(GeminiError? error)
    {
        var delay = error?.Details?.FirstOrDefault(d => d.Type?.EndsWith("google.rpc.RetryInfo", StringComparison.Ordinal) == true)?.RetryDelay;
        // A protobuf Duration in JSON: decimal seconds with an "s" suffix, e.g. "37s" or "1.5s".
        return delay is { Length: > 1 } && delay[^1] == 's' &&
               double.TryParse(delay[..^1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }

    private static async Task<GeminiErrorBody?> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(GeminiJsonContext.Default.GeminiErrorBody, cancellationToken);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or HttpRequestException)
        {
            return null;
        }
    }

    private OpossumException Failure(string reason, bool serviceFault) =>
        serviceFault ? BackendFailures.Unavailable(BackendNames.Gemini, Scrub(reason)) : BackendFailures.Refused(BackendNames.Gemini, Scrub(reason));

    // Belt and braces: a provider error that echoes the key must not carry it any further.
    private string Scrub(string text) =>
        Options.ApiKey is { Length: > 0 } key ? text.Replace(key, "[redacted]", StringComparison.Ordinal) : text;
}
