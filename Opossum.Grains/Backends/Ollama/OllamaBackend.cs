using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Backends.Ollama;

/// <summary>Ollama over its HTTP API: <c>POST /api/chat</c> (streamed or not) to generate, <c>GET /api/tags</c> to check.</summary>
public sealed class OllamaBackend(HttpClient http, IOptions<OllamaOptions> options) : IChatBackend
{

    public string Name => BackendNames.Ollama;

    private OllamaOptions Options => options.Value;

    public IReadOnlyList<BackendServer> Servers => Options.Servers;

    public TimeSpan RequestTimeout => Options.RequestTimeout;

    public TimeSpan QueueTimeout => Options.QueueTimeout;

    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(BackendServer server, ModelDefinition model, GenerationRequest request,
        bool stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var url = BackendUrls.Combine(server.Url, "api/chat");
        using var span = new BackendSpan(BackendNames.Ollama, model, request, url, stream);
        var chunks = BackendCall.StreamAsync(span, Options.RequestTimeout, token => ReadAsync(url, model, request, stream, span, token),
            ex => BackendFailures.Unavailable(BackendNames.Ollama, BackendFailures.Describe(ex, server.Url, Options.RequestTimeout, cancellationToken), ex),
            cancellationToken);
        await foreach (var chunk in chunks)
            yield return chunk;
    }

    // Streamed: one JSON object per line (NDJSON) as the model writes, the last with done: true and the token counts.
    private async IAsyncEnumerable<GenerationChunk> ReadAsync(Uri url, ModelDefinition model, GenerationRequest generation, bool stream,
        BackendSpan span, [EnumeratorCancellation] CancellationToken token)
    {
        var options = generation.Options;
        var body = new OllamaChatRequest(model.ApiName, generation.Messages.Select(ToWire).ToList(), stream, ToWire(options), Tools(options),
            options?.Format is { } format ? JsonElement.Parse(format.Schema ?? "\"json\"") : null);
        // Buffered, so the request carries Content-Length: some proxies in front of Ollama refuse chunked bodies.
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, OllamaJsonContext.Default.OllamaChatRequest)),
        };
        request.Content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token);
        span.Responded((int)response.StatusCode);
        if (!response.IsSuccessStatusCode)
            throw BackendFailures.ForStatus(BackendNames.Ollama, (int)response.StatusCode,
                $"HTTP {(int)response.StatusCode}{await ReadErrorAsync(response, token)}", BackendFailures.RetryAfter(response));

        if (!stream)
        {
            var whole = await response.Content.ReadFromJsonAsync(OllamaJsonContext.Default.OllamaChatResponse, token);
            List<ToolCall> read = [];
            Read(whole?.Message, read);
            if (whole?.Message?.Content is null && read.Count == 0)
                throw BackendFailures.Refused(BackendNames.Ollama, "the answer had no message.content");
            var content = whole!.Message?.Content ?? "";
            var calls = ToolWire.Since(read, 0);
            yield return new GenerationChunk(content, new Generation(content, BackendNames.Ollama, model.Name, whole.PromptEvalCount, whole.EvalCount,
                FinishReason(whole.DoneReason, calls), ToolCalls: calls), ToolCalls: calls);
            yield break;
        }

        await using var answer = await response.Content.ReadAsStreamAsync(token);
        var text = new StringBuilder();
        // Ollama writes each call whole, in any line of the stream; each is given out with the chunk of its line.
        List<ToolCall> toolCalls = [];
        await foreach (var lines in LineBatches.ReadAsync(answer, token))
        {
            var start = text.Length;
            var before = toolCalls.Count;
            OllamaChatResponse? last = null;
            foreach (var line in lines)
            {
                if (line.Length == 0) continue;
                var part = JsonSerializer.Deserialize(line, OllamaJsonContext.Default.OllamaChatResponse)
                           ?? throw BackendFailures.Refused(BackendNames.Ollama, "a line of the answer was null");
                if (part.Error is { Length: > 0 } error)
                    throw BackendFailures.Unavailable(BackendNames.Ollama, BackendFailures.Truncate(error));
                text.Append(part.Message?.Content);
                Read(part.Message, toolCalls);
                last = part;
                if (part.Done) break;
            }
            var delta = text.ToString(start, text.Length - start);
            var finished = ToolWire.Since(toolCalls, before);
            if (last is { Done: true })
            {
                var calls = ToolWire.Since(toolCalls, 0);
                yield return new GenerationChunk(delta, new Generation(text.ToString(), BackendNames.Ollama, model.Name, last.PromptEvalCount, last.EvalCount,
                    FinishReason(last.DoneReason, calls), ToolCalls: calls), ToolCalls: finished);
                yield break;
            }
            if (delta.Length > 0 || finished is not null)
                yield return new GenerationChunk(delta, ToolCalls: finished);
        }
        throw BackendFailures.Cut(BackendNames.Ollama, text.Length == 0 ? "the stream ended before any text" : $"the stream ended after {text.Length} characters, before done");
    }

    public async Task CheckAsync(BackendServer server, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.CheckTimeout);
        try
        {
            using var response = await http.GetAsync(BackendUrls.Combine(server.Url, "api/tags"), timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw new BackendCheckException($"GET /api/tags answered HTTP {(int)response.StatusCode}");
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
        {
            throw new BackendCheckException(BackendFailures.Describe(ex, server.Url, Options.CheckTimeout, cancellationToken), ex);
        }
    }

    private static OllamaSampling? ToWire(GenerationOptions? options) => options is null or { IsEmpty: true }
        ? null
        : new(options.Temperature, options.TopP, options.MaxTokens, options.Stop is { Count: > 0 } stop ? stop : null, options.Seed);

    // Ollama says "stop" (done, a stop sequence, or calls made) or "length" (num_predict reached); "load" and "unload" end no answer.
    private static string? FinishReason(string? doneReason, IReadOnlyList<ToolCall>? calls) => doneReason switch
    {
        _ when calls is not null => FinishReasons.ToolCalls,
        null or "" => null,
        "length" => FinishReasons.Length,
        _ => FinishReasons.Stop,
    };

    // An assistant's calls with their arguments as objects; a tool's result named by its function (Ollama has no call ids to match).
    private static OllamaMessage ToWire(ChatMessage message) =>
        new(message.Role, message.Content, message.Image is { } image ? [Convert.ToBase64String(image.Data)] : null,
            message.ToolCalls is { Count: > 0 } calls
                ? calls.Select(c => new OllamaToolCall(new OllamaFunctionCall(c.Name, JsonElement.Parse(c.Arguments)))).ToList()
                : null,
            message.Role == "tool" ? message.ToolName : null);

    // Ollama has no tool choice: under "none" it is offered no tools, under a named function only that one; it cannot be made to call one.
    private static List<OllamaTool>? Tools(GenerationOptions? options)
    {
        if (options is not { HasTools: true } || options.ToolChoice?.Mode == ToolChoice.Modes.None)
            return null;
        var offered = options.ToolChoice is { Mode: ToolChoice.Modes.Function, Function: { } only }
            ? options.Tools!.Where(t => t.Name == only)
            : options.Tools!;
        var tools = offered.Select(t => new OllamaTool("function", new OllamaFunction(t.Name, t.Description, JsonElement.Parse(t.Parameters)))).ToList();
        return tools.Count > 0 ? tools : null;
    }

    // The calls of a message (a whole answer's, or a line's), each with Ollama's id or one made now, so it keeps it to the end.
    private static void Read(OllamaMessage? message, List<ToolCall> calls)
    {
        foreach (var call in message?.ToolCalls ?? [])
        {
            if (call.Function?.Name is not { Length: > 0 } name) continue;
            calls.Add(new ToolCall(call.Id is { Length: > 0 } id ? id : ToolWire.NewId(), name, ToolWire.Arguments(call.Function.Arguments)));
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(OllamaJsonContext.Default.OllamaError, cancellationToken);
            return string.IsNullOrWhiteSpace(error?.Error) ? "" : ": " + BackendFailures.Truncate(error.Error);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or HttpRequestException)
        {
            return "";
        }
    }
}
