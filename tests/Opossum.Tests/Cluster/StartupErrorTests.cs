using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>What an operator sees when a silo or gateway cannot start: one line, a non-zero exit.</summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class StartupErrorTests
{
    private static async Task<(int ExitCode, List<string> Lines)> RunToExitAsync(string project, Dictionary<string, string> environment)
    {
        await using var process = OpossumProcess.Start(project, project, FreePorts.Next(), environment);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"{project} kept running:\n{string.Join('\n', process.Output)}");
        await Task.Delay(100); // the last output lines
        return (process.ExitCode, process.Output.ToList());
    }

    public static TheoryData<string, string, string, string> Cases => new()
    {
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1", "Redis is not reachable", "cannot start" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=,,,", "is not a valid StackExchange.Redis connection string", "configuration error" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis", "needs REDIS_CONNECTION", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_CLUSTERING=swarm", "OPOSSUM_CLUSTERING must be 'localhost' or 'redis'", "configuration error" },
        { "Opossum.Gateway", "OLLAMA_BASE_URL=not a url", "OLLAMA_BASE_URL must be one or more absolute http(s) URLs", "configuration error" },
        { "Opossum.Gateway", "OLLAMA_BASE_URL=http://a:1,ftp://b:2", "OLLAMA_BASE_URL must be one or more absolute http(s) URLs separated by commas; 'ftp://b:2' is not one.", "configuration error" },
        { "Opossum.Gateway", "OLLAMA_PARALLELISM=0", "OLLAMA_PARALLELISM must be a whole number of at least 1", "configuration error" },
        { "Opossum.Silo", "OLLAMA_BASE_URL=http://a:1,http://b:2;OLLAMA_PARALLELISM=4,8,2", "OLLAMA_PARALLELISM must be one number for every server or one per server of OLLAMA_BASE_URL (2)", "configuration error" },
        { "Opossum.Gateway", "OTEL_ENABLED=maybe", "OTEL_ENABLED must be 'true' or 'false'", "configuration error" },
        { "Opossum.Silo", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1;Opossum__RedisStateFormat=yaml", "Opossum:RedisStateFormat must be 'binary' or 'json'", "configuration error" },
        // Values the configuration binder cannot convert, early (AddOpossumStorage, the grain-call timeout) or in options bound at start.
        { "Opossum.Gateway", "Opossum__Cache__Ttl=ten", "Opossum:Cache:Ttl must be a duration such as 00:01:30, not 'ten'.", "configuration error" },
        { "Opossum.Silo", "Opossum__Cache__Ttl=ten", "Opossum:Cache:Ttl must be a duration such as 00:01:30, not 'ten'.", "configuration error" },
        { "Opossum.Silo", "Backends__Ollama__RequestTimeout=abc", "Backends:Ollama:RequestTimeout must be a duration such as 00:01:30, not 'abc'.", "configuration error" },
        { "Opossum.Gateway", "Opossum__GrainCallTimeout=soon", "Opossum:GrainCallTimeout must be a duration such as 00:01:30, not 'soon'.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Routing__MaxFallbacks=x", "Opossum:Routing:MaxFallbacks must be a whole number, not 'x'.", "configuration error" },
        { "Opossum.Gateway", "GEMINI_BASE_URL=http://localhost:99999", "GEMINI_BASE_URL (Backends:Gemini:BaseUrl) must be an absolute URL, not 'http://localhost:99999'.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_SILO_PORT=99999", "OPOSSUM_SILO_PORT must be a port number (1-65535), not '99999'.", "configuration error" },
        { "Opossum.Silo", "OTEL_EXPORTER_OTLP_ENDPOINT=notaurl", "OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http(s) URL, not 'notaurl'.", "configuration error" },
        { "Opossum.Gateway", "Logging__LogLevel__Default=loud", "Logging:LogLevel:Default must be one of Trace, Debug, Information, Warning, Error, Critical, None, not 'loud'.", "configuration error" },
        { "Opossum.Silo", "Models__1__SupportsImages=maybe", "Models:1:SupportsImages must be true or false, not 'maybe'.", "configuration error" },
        // Settings found wrong before Redis is found unreachable are named first.
        { "Opossum.Gateway", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1;Opossum__GrainCallTimeout=soon", "Opossum:GrainCallTimeout must be a duration such as 00:01:30, not 'soon'.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_CLUSTERING=redis;REDIS_CONNECTION=127.0.0.1:1;Models__0__Backend=openai", "Model 'gemini-thinking' has backend 'openai'; known backends: ollama, gemini.", "configuration error" },
        // Values that convert but make no sense.
        { "Opossum.Gateway", "Models__0__Backend=openai", "Model 'gemini-thinking' has backend 'openai'; known backends: ollama, gemini.", "configuration error" },
        { "Opossum.Silo", "Opossum__Conversations__ContextExchanges=0", "Opossum:Conversations:ContextExchanges must be at least 1.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Conversations__IdleExpiry=00:00:00", "Opossum:Conversations:IdleExpiry must be positive.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Conversations__MaxInMemory=0", "Opossum:Conversations:MaxInMemory must be at least 1.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Availability__CoolDown=-00:00:01", "Opossum:Availability:CoolDown must be positive.", "configuration error" },
        { "Opossum.Silo", "Opossum__Availability__DegradedLatency=-00:00:01", "Opossum:Availability:DegradedLatency must be positive.", "configuration error" },
        { "Opossum.Silo", "Backends__Gemini__RequestTimeout=0", "Backends:Gemini:RequestTimeout must be positive.", "configuration error" },
        { "Opossum.Gateway", "Backends__Ollama__CheckTimeout=-00:00:01", "Backends:Ollama:CheckTimeout must be positive.", "configuration error" },
        { "Opossum.Silo", "Opossum__GrainCallTimeout=-00:00:05", "Opossum:GrainCallTimeout must be positive.", "configuration error" },
        // Keys, limits and the page's trace links.
        { "Opossum.Gateway", "OPOSSUM_API_KEYS=alice:", "OPOSSUM_API_KEYS (Opossum:ApiKeys) must be keys separated by commas, each 'name:key' or 'key'; an entry has an empty key.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_API_KEYS=ui:k1-secret;OPOSSUM_ADMIN_KEYS=ui:k2-secret", "the name 'ui' is given to two different keys.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__ChatsPerMinute=-1", "Opossum:Limits:ChatsPerMinute must be 0 (no limit) or more, not -1.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__AnswerTokens=-5", "Opossum:Limits:AnswerTokens must be 0 or more, not -5.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__MaxDepth=deep", "Opossum:Limits:MaxDepth must be a whole number, not 'deep'.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_TRACE_URL=http://jaeger:16686/trace", "OPOSSUM_TRACE_URL (Opossum:TraceUrl) must be an http(s) URL with {traceId} in it", "configuration error" },
        // Listen addresses Kestrel would refuse with a stack trace.
        { "Opossum.Gateway", "ASPNETCORE_URLS=garbage", "ASPNETCORE_URLS must be one or more absolute http(s) URLs separated by ';' (e.g. http://localhost:8000), not 'garbage'.", "configuration error" },
        { "Opossum.Silo", "ASPNETCORE_URLS=garbage", "ASPNETCORE_URLS must be one or more absolute http(s) URLs separated by ';' (e.g. http://localhost:8081), not 'garbage'.", "configuration error" },
        { "Opossum.Silo", "ASPNETCORE_URLS=http://localhost:8081/opossum", "not 'http://localhost:8081/opossum'.", "configuration error" },
        // HOME without a developer certificate in it, so that no machine's own certificate makes this one start.
        { "Opossum.Gateway", "ASPNETCORE_URLS=https://127.0.0.1:0;HOME=/nonexistent", "ASPNETCORE_URLS has an https URL but Kestrel has no certificate: set Kestrel__Certificates__Default__Path", "configuration error" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_process_that_cannot_start_says_why_in_one_line(string project, string settings, string reason, string kind)
    {
        var environment = settings.Split(';').Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        environment.TryAdd("OPOSSUM_SILO_PORT", FreePorts.Next().ToString());
        environment.TryAdd("OPOSSUM_GATEWAY_PORT", FreePorts.Next().ToString());

        var (exitCode, lines) = await RunToExitAsync(project, environment);

        Assert.Equal(kind == "configuration error" ? 2 : 3, exitCode);
        var line = Assert.Single(lines, l => l.Contains(reason));
        Assert.StartsWith(project == "Opossum.Silo" ? "opossum-silo: " + kind : "opossum-gateway: " + kind, line);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ") || l.Contains("Exception:"));
    }

    [Fact]
    public async Task A_port_in_use_is_named_with_the_setting_that_moves_it()
    {
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;

        var (exitCode, lines) = await RunToExitAsync("Opossum.Silo", new()
        {
            ["OPOSSUM_SILO_PORT"] = port.ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        });

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"opossum-silo: configuration error: port {port} is already in use (set OPOSSUM_SILO_PORT to another port)", lines);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at "));
    }

    [Fact]
    public async Task A_comma_separated_list_of_ollama_servers_starts_with_a_circuit_and_slots_for_each()
    {
        await using var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), new Dictionary<string, string>
        {
            ["OLLAMA_BASE_URL"] = "http://127.0.0.1:1,http://127.0.0.1:2",
            ["OLLAMA_PARALLELISM"] = "4,8",
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        });
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = gateway.Http };

        using var response = await http.PostAsJsonAsync("/graphql", new { query = "{ services { name servers { url parallelism } } }" });
        var ollama = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["data"]!["services"]!.AsArray()
            .Single(s => s!["name"]!.GetValue<string>() == "ollama")!;

        Assert.Equal("""[{"url":"http://127.0.0.1:1/","parallelism":4},{"url":"http://127.0.0.1:2/","parallelism":8}]""", ollama["servers"]!.ToJsonString());
    }
}
