using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Backends.Ollama;

/// <summary>Ollama over its HTTP API: <c>POST /api/chat</c> to generate, <c>GET /api/tags</c> to check.</summary>
public sealed class OllamaBackend(HttpClient http, IOptions<OllamaOptions> options) : IChatBackend
{
    public const string ServiceName = "ollama";

    public string Name => ServiceName;

    private OllamaOptions Options => options.Value;

    public IReadOnlyList<BackendServer> Servers => Options.Servers;

    public TimeSpan RequestTimeout => Options.RequestTimeout;

    public TimeSpan QueueTimeout => Options.QueueTimeout;

    public async Task<Generation> GenerateAsync(BackendServer server, ModelDefinition model, IReadOnlyList<ChatMessage> messages, CancellationToken cancellationToken)
    {
        var url = BackendUrls.Combine(server.Url, "api/chat");
        using var span = new BackendSpan(ServiceName, model, messages, url);
        return await BackendCall.RunAsync(span, Options.RequestTimeout, cancellationToken, async token =>
        {
            var body = new OllamaChatRequest(model.ApiName, messages.Select(ToWire).ToList(), Stream: false);
            // Buffered, so the request carries Content-Length: some proxies in front of Ollama refuse chunked bodies.
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, OllamaJsonContext.Default.OllamaChatRequest));
            content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
            using var response = await http.PostAsync(url, content, token);
            span.Responded((int)response.StatusCode);

            if (!response.IsSuccessStatusCode)
                throw BackendFailures.ForStatus(ServiceName, (int)response.StatusCode,
                    $"HTTP {(int)response.StatusCode}{await ReadErrorAsync(response, token)}", BackendFailures.RetryAfter(response));

            var answer = await response.Content.ReadFromJsonAsync(OllamaJsonContext.Default.OllamaChatResponse, token);
            if (answer?.Message?.Content is not { } text)
                throw BackendFailures.Refused(ServiceName, "the answer had no message.content");
            return new Generation(text, ServiceName, model.Name, answer.PromptEvalCount, answer.EvalCount);
        }, ex => BackendFailures.Unavailable(ServiceName, BackendFailures.Describe(ex, server.Url, Options.RequestTimeout, cancellationToken), ex));
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

    private static OllamaMessage ToWire(ChatMessage message) =>
        new(message.Role, message.Content, message.Image is { } image ? [Convert.ToBase64String(image.Data)] : null);

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
