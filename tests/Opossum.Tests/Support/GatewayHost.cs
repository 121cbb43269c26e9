using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Opossum.Gateway.Hosting;

namespace Opossum.Tests.Support;

/// <summary>
/// The real gateway (standalone mode, co-hosted silo) on a loopback port, spoken to over HTTP.
/// Spans are also exported in memory so tests can read what a collector would receive.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, ExportedSpans spans, CapturedLogs logs)
    {
        _app = app;
        Spans = spans;
        Logs = logs;
    }

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Every span the gateway process exported so far.</summary>
    public ExportedSpans Spans { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Every log line the gateway process wrote, at every level.</summary>
    public CapturedLogs Logs { get; }

    /// <param name="services">Registrations made before the gateway's own, e.g. the grains' clock (which the gateway adds only when none is).</param>
    public static async Task<GatewayHost> StartAsync(Uri ollama, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var logs = new CapturedLogs();
        var config = new Dictionary<string, string?>
        {
            ["urls"] = "http://127.0.0.1:0",
            ["OLLAMA_BASE_URL"] = ollama.ToString(),
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_CLUSTER_ID"] = "test-" + Guid.NewGuid().ToString("N")[..8],
            // Nothing listens there: export failures must not disturb the gateway.
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{FreePorts.Next()}/v1/traces",
            ["Models:0:Name"] = "gemma3:1b",
            ["Models:0:Backend"] = "ollama",
            ["Models:0:ApiName"] = "gemma3:1b",
            // Tests send far more chats from one address than a client may: no per-client limit unless a test sets one.
            ["Opossum:Limits:ChatsPerMinute"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            config[key] = value;

        var spans = new ExportedSpans();
        var app = GatewayApp.Build([], builder =>
        {
            // Only what the test says: neither the app's appsettings.json nor the machine's environment.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(config);
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            // Debug everywhere and Trace for HttpClient (which logs request headers there): what an operator might turn on.
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddFilter("System.Net.Http", LogLevel.Trace);
            builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans));
            services?.Invoke(builder.Services);
        });
        await app.StartAsync();
        var host = new GatewayHost(app, spans, logs) { Http = new HttpClient { BaseAddress = app.BaseUrl(), Timeout = TimeSpan.FromSeconds(90) } };
        return host;
    }

    /// <summary>POSTs a GraphQL request as a typical client does (Accept: application/graphql-response+json).</summary>
    public async Task<GraphQLResult> PostAsync(string query, object? variables = null)
    {
        using var request = GraphQLPost(query, variables);
        using var response = await SendUntracedAsync(request);
        return await GraphQLResult.ReadAsync(response);
    }

    /// <summary>A GraphQL POST to <c>/graphql</c> as a typical client makes it, with <paramref name="key"/> as its bearer key when given.</summary>
    public static HttpRequestMessage GraphQLPost(string query, object? variables = null, string? key = null,
        string accept = "application/graphql-response+json", string? operationName = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/graphql")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { query, variables, operationName }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd(accept);
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    /// <summary>
    /// Sends without a client span: the gateway's tracer shares this test process, and a client span
    /// would become the root of the gateway's traces, which a real remote client's span would not.
    /// </summary>
    public async Task<HttpResponseMessage> SendUntracedAsync(HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        using var quiet = OpenTelemetry.SuppressInstrumentationScope.Begin();
        return await Http.SendAsync(request, cancellationToken);
    }

    public Task<HttpResponseMessage> GetUntracedAsync(string uri) => SendUntracedAsync(new HttpRequestMessage(HttpMethod.Get, uri));

    /// <summary>
    /// Exports now what the gateway's tracer and meter providers hold (when it has them), as their next scheduled
    /// export would, and returns once the collector has answered: what it would ever get of that, it has.
    /// </summary>
    public void FlushTelemetry()
    {
        Services.GetService<TracerProvider>()?.ForceFlush();
        Services.GetService<MeterProvider>()?.ForceFlush();
    }

    /// <summary>The chat mutation with every field of ChatResponse selected.</summary>
    public Task<GraphQLResult> ChatAsync(object input) => PostAsync(
        "mutation Chat($input: ChatInput!) { chat(input: $input) { message conversationId backendUsed modelUsed cached tokensUsed durationMs traceId } }",
        new { input });

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A GraphQL-over-HTTP response: status, content type and the JSON body.</summary>
public sealed record GraphQLResult(int Status, string? ContentType, JsonNode? Body)
{
    public static async Task<GraphQLResult> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        JsonNode? body = null;
        try
        {
            body = text.Length == 0 ? null : JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            body = JsonValue.Create(text);
        }
        return new GraphQLResult((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
    }

    public JsonNode? Data => Body?["data"];

    public JsonArray Errors => Body?["errors"]?.AsArray() ?? [];

    public string? ErrorCode => Errors.FirstOrDefault()?["extensions"]?["code"]?.GetValue<string>();

    public string? ErrorMessage => Errors.FirstOrDefault()?["message"]?.GetValue<string>();

    public override string ToString() => $"{Status} {ContentType} {Body?.ToJsonString()}";
}
