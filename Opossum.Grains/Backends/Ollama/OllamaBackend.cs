using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Opossum.Grains.Telemetry;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Backends.Ollama;

/// <summary>Ollama over its HTTP API: <c>POST /api/chat</c> to generate, <c>GET /api/tags</c> to check.</summary>
public sealed class OllamaBackend(HttpClient http, IOptions<OllamaOptions> options) : IChatBackend
{
    public const string ServiceName = "ollama";
    private const int MaxReasonLength = 300;

    public string Name => ServiceName;

    public async Task<Generation> GenerateAsync(ModelDefinition model, IReadOnlyList<ChatMessage> messages, CancellationToken cancellationToken)
    {
        var url = new Uri(options.Value.BaseUrl, "/api/chat");
        using var activity = Source.StartActivity("ollama.generate", ActivityKind.Client);
        activity?.SetTag(Tags.PromptLength, messages.Sum(m => m.Content.Length));
        activity?.SetTag(Tags.ModelName, model.ApiName);
        activity?.SetTag(Tags.HttpUrl, url.ToString());
        activity?.SetTag(Tags.HttpMethod, "POST");
        activity?.SetTag(Tags.HasImage, false);
        activity?.SetTag(Tags.GenAiOperationName, "chat");
        activity?.SetTag(Tags.GenAiProviderName, ServiceName);
        activity?.SetTag(Tags.GenAiRequestModel, model.ApiName);

        var started = Stopwatch.GetTimestamp();
        try
        {
            var body = new OllamaChatRequest(model.ApiName, messages.Select(m => new OllamaMessage(m.Role, m.Content)).ToList(), Stream: false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.RequestTimeout);
            using var response = await SendAsync(url, body, timeout.Token, cancellationToken);
            activity?.SetTag(Tags.HttpStatusCode, (int)response.StatusCode);
            activity?.SetTag(Tags.HttpResponseTime, Stopwatch.GetElapsedTime(started).TotalSeconds);

            if (!response.IsSuccessStatusCode)
                throw Unavailable($"HTTP {(int)response.StatusCode}{await ReadErrorAsync(response, timeout.Token)}");

            var answer = await ReadAnswerAsync(response, timeout.Token);
            var generation = new Generation(answer.Message!.Content, ServiceName, model.Name, answer.PromptEvalCount, answer.EvalCount);
            activity?.SetTag(Tags.ResponseLength, generation.Content.Length);
            activity?.SetTag(Tags.GenAiInputTokens, generation.InputTokens);
            activity?.SetTag(Tags.GenAiOutputTokens, generation.OutputTokens);
            RecordTokens(model, generation);
            return generation;
        }
        catch (Exception ex) when (ex is not OpossumException)
        {
            var failure = Unavailable(Describe(ex, cancellationToken), ex);
            activity.RecordFailure(failure);
            throw failure;
        }
        catch (OpossumException ex)
        {
            activity.RecordFailure(ex);
            throw;
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            activity?.SetTag(Tags.DurationSeconds, elapsed);
            OperationDuration.Record(elapsed,
                new(Tags.GenAiOperationName, "chat"), new(Tags.GenAiProviderName, ServiceName), new(Tags.GenAiRequestModel, model.ApiName));
        }
    }

    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.CheckTimeout);
        try
        {
            using var response = await http.GetAsync(new Uri(options.Value.BaseUrl, "/api/tags"), timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw new BackendCheckException($"GET /api/tags answered HTTP {(int)response.StatusCode}");
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BackendCheckException($"no answer from {options.Value.BaseUrl} within {options.Value.CheckTimeout.TotalSeconds:0.#} s", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new BackendCheckException($"unreachable at {options.Value.BaseUrl}: {Innermost(ex)}", ex);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Uri url, OllamaChatRequest body, CancellationToken timeout, CancellationToken caller)
    {
        try
        {
            // Buffered, so the request carries Content-Length: some proxies in front of Ollama refuse chunked bodies.
            using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, OllamaJsonContext.Default.OllamaChatRequest));
            content.Headers.ContentType = new("application/json") { CharSet = "utf-8" };
            return await http.PostAsync(url, content, timeout);
        }
        catch (OperationCanceledException ex) when (!caller.IsCancellationRequested)
        {
            throw Unavailable($"no answer within {options.Value.RequestTimeout.TotalSeconds:0.#} s", ex);
        }
    }

    private static async Task<OllamaChatResponse> ReadAnswerAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        OllamaChatResponse? answer;
        try
        {
            answer = await response.Content.ReadFromJsonAsync(OllamaJsonContext.Default.OllamaChatResponse, cancellationToken);
        }
        catch (JsonException ex)
        {
            throw Unavailable("the answer was not valid JSON", ex);
        }
        if (answer?.Message?.Content is null)
            throw Unavailable("the answer had no message.content");
        return answer;
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync(OllamaJsonContext.Default.OllamaError, cancellationToken);
            return string.IsNullOrWhiteSpace(error?.Error) ? "" : ": " + Truncate(error.Error);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or HttpRequestException)
        {
            return "";
        }
    }

    private string Describe(Exception ex, CancellationToken caller) => ex switch
    {
        OperationCanceledException when caller.IsCancellationRequested => "the request was cancelled",
        OperationCanceledException => $"no answer within {options.Value.RequestTimeout.TotalSeconds:0.#} s",
        HttpRequestException http => $"unreachable at {options.Value.BaseUrl}: {Truncate(Innermost(http))}",
        _ => Truncate(ex.Message),
    };

    private static OpossumException Unavailable(string reason, Exception? inner = null) =>
        inner is null
            ? new(ErrorCodes.BackendUnavailable, $"Backend 'ollama' failed: {reason}")
            : new(ErrorCodes.BackendUnavailable, $"Backend 'ollama' failed: {reason}", inner);

    private static string Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex.Message;

    private static string Truncate(string text) => text.Length <= MaxReasonLength ? text : text[..MaxReasonLength] + "…";

    private static void RecordTokens(ModelDefinition model, Generation generation)
    {
        KeyValuePair<string, object?> provider = new(Tags.GenAiProviderName, ServiceName), requested = new(Tags.GenAiRequestModel, model.ApiName);
        if (generation.InputTokens is { } input)
            TokenUsage.Record(input, provider, requested, new(Tags.GenAiTokenType, "input"));
        if (generation.OutputTokens is { } output)
            TokenUsage.Record(output, provider, requested, new(Tags.GenAiTokenType, "output"));
    }
}
