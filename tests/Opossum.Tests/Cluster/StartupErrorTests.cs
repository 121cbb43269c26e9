using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Opossum.Gateway.Hosting;
using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>What an operator sees when a silo or gateway cannot start: one line, a non-zero exit.</summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class StartupErrorTests
{
    private static async Task<(int ExitCode, List<string> Lines)> RunToExitAsync(string project, Dictionary<string, string> environment, string arguments = "")
    {
        await using var process = OpossumProcess.Start(project, project, FreePorts.Next(), environment, arguments);
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"{project} kept running:\n{string.Join('\n', process.Output)}");
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
        { "Opossum.Silo", "Opossum__Availability__CheckPeriod=00:00:00;Opossum__Availability__FailureThreshold=0", "Opossum:Availability:CheckPeriod must be at least 1 s.; Opossum:Availability:FailureThreshold must be at least 1.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__MaxDepth=1;Opossum__Limits__WebSocketsPerClient=0", "Opossum:Limits:MaxDepth must be at least 2, not 1.; Opossum:Limits:WebSocketsPerClient must be at least 1, not 0.", "configuration error" },
        { "Opossum.Silo", "Backends__Gemini__RequestTimeout=0", "Backends:Gemini:RequestTimeout must be positive.", "configuration error" },
        { "Opossum.Gateway", "Backends__Ollama__CheckTimeout=-00:00:01", "Backends:Ollama:CheckTimeout must be positive.", "configuration error" },
        { "Opossum.Silo", "Opossum__GrainCallTimeout=-00:00:05", "Opossum:GrainCallTimeout must be positive.", "configuration error" },
        // Keys, limits and the page's trace links.
        { "Opossum.Gateway", "OPOSSUM_API_KEYS=alice:", "OPOSSUM_API_KEYS (Opossum:ApiKeys) must be keys separated by commas, each 'name:key' or 'key'; an entry has an empty key.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_API_KEYS=ui:k1-secret;OPOSSUM_ADMIN_KEYS=ui:k2-secret", "the name 'ui' is given to two different keys.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__ChatsPerMinute=-1", "Opossum:Limits:ChatsPerMinute must be 0 (no limit) or more, not -1.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__AnswerTokens=-5", "Opossum:Limits:AnswerTokens must be 0 or more, not -5.", "configuration error" },
        { "Opossum.Gateway", "Opossum__Limits__MaxDepth=deep", "Opossum:Limits:MaxDepth must be a whole number, not 'deep'.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_CORS_ORIGINS=https://app.example.com/chat", "OPOSSUM_CORS_ORIGINS (Opossum:CorsOrigins) must be origins separated by commas, each scheme://host[:port] such as https://app.example.com; 'https://app.example.com/chat' is not one.", "configuration error" },
        { "Opossum.Gateway", "OPOSSUM_TRACE_URL=http://jaeger:16686/trace", "OPOSSUM_TRACE_URL (Opossum:TraceUrl) must be an http(s) URL with {traceId} in it", "configuration error" },
        // Keys no setting has: misspelt, removed, or under the wrong section; named with the closest setting.
        { "Opossum.Gateway", "Opossum__Cache__Tll=00:01:00", "unknown setting Opossum:Cache:Tll; did you mean Opossum:Cache:Ttl?", "configuration error" },
        { "Opossum.Silo", "Opossum__Cache__Tll=00:01:00", "unknown setting Opossum:Cache:Tll; did you mean Opossum:Cache:Ttl?", "configuration error" },
        { "Opossum.Gateway", "Opossum__ApiKey=k1-secret", "unknown setting Opossum:ApiKey; did you mean OPOSSUM_API_KEYS (Opossum:ApiKeys)?", "configuration error" },
        { "Opossum.Silo", "Backends__Ollama__MaxConcurrency=4", "unknown setting Backends:Ollama:MaxConcurrency; did you mean", "configuration error" },
        { "Opossum.Silo", "Opossum__Metrics__Enabled=true", "unknown setting Opossum:Metrics:Enabled; did you mean OTEL_ENABLED (Telemetry:Enabled)?", "configuration error" },
        { "Opossum.Gateway", "Opossum__IdleExpiry=02:00:00", "unknown setting Opossum:IdleExpiry; did you mean Opossum:Conversations:IdleExpiry?", "configuration error" },
        { "Opossum.Gateway", "Models__2__SupportImages=true", "unknown setting Models:2:SupportImages; did you mean Models:2:SupportsImages?", "configuration error" },
        { "Opossum.Silo", "Opossum__Routing__FallbackOrder=llava", "unknown setting Opossum:Routing:FallbackOrder; did you mean Opossum:Routing:FallbackOrder:0?", "configuration error" },
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
    public async Task An_unknown_key_on_the_command_line_is_named_too()
    {
        var (exitCode, lines) = await RunToExitAsync("Opossum.Gateway", new()
        {
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        }, "--Opossum:Limits:ChatsPerMinut=10");

        Assert.Equal(2, exitCode);
        Assert.Contains("opossum-gateway: configuration error: unknown setting Opossum:Limits:ChatsPerMinut; did you mean Opossum:Limits:ChatsPerMinute?", lines);
    }

    /// <summary>
    /// Each documented setting under Opossum's sections, with its documented default where that is a value,
    /// else a value that fits (ports free, backends on loopback where nothing answers).
    /// </summary>
    private static Dictionary<string, string> DocumentedSettings()
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Backends:Ollama:BaseUrl"] = "http://127.0.0.1:1",
            ["Backends:Gemini:BaseUrl"] = "http://127.0.0.1:1",
            ["Backends:Gemini:ApiKey"] = "test-key",
            ["Opossum:DefaultModel"] = "gemma3:1b",
            ["Opossum:RedisConnection"] = null, // needs a Redis server: the cluster tests give it
            ["Opossum:AdvertisedIp"] = "127.0.0.1",
            ["Opossum:ApiKeys"] = "ci:k1-secret",
            ["Opossum:AdminKeys"] = "ops:k2-secret",
            ["Opossum:TraceUrl"] = "http://localhost:16686/trace/{traceId}",
            ["Opossum:CorsOrigins"] = "https://app.example",
            ["Opossum:Routing:FallbackOrder"] = null, // a list: set by index below
            ["Opossum:Conversations:SystemPrompt"] = "Answer briefly.",
            ["Opossum:Limits:TokensPerDay"] = "100000",
            ["Telemetry:OtlpEndpoint"] = $"http://127.0.0.1:{FreePorts.Next()}/v1/traces",
            ["Models"] = null, // an array of models: models.json has them
        };
        var settings = new Dictionary<string, string>
        {
            ["Opossum__Routing__FallbackOrder__0"] = "llava",
            ["Opossum__Routing__FallbackOrder__1"] = "gemma3:1b",
        };
        foreach (var row in RepositoryDocs.TableRows("docs/contracts.md", "variable"))
        {
            if (RepositoryDocs.Code(row[1]) is not { } key || key.Contains('*') ||
                !KnownSettings.OwnedSections.Any(s => key.Equals(s, StringComparison.OrdinalIgnoreCase) || key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase)))
                continue;
            var value = values.TryGetValue(key, out var given) ? given : RepositoryDocs.Code(row[2])
                ?? throw new Xunit.Sdk.XunitException($"docs/contracts.md gives {key} no default value: give it one in {nameof(DocumentedSettings)}");
            if (value is not null)
                settings[key.Replace(":", "__")] = value;
        }
        return settings;
    }

    [Fact]
    public async Task Every_documented_setting_starts_the_gateway_and_a_silo_given_the_same_environment()
    {
        var environment = DocumentedSettings();
        Assert.Contains("Opossum__Cache__Ttl", environment.Keys);
        Assert.Contains("Opossum__Limits__MaxCost", environment.Keys); // the gateway's own, given to the silo too, as docker-compose.yml does

        foreach (var (project, ready) in new[] { ("Opossum.Gateway", "/health/ready"), ("Opossum.Silo", "/health") })
        {
            environment["Opossum__SiloPort"] = FreePorts.Next().ToString();
            environment["Opossum__GatewayPort"] = FreePorts.Next().ToString();
            await using var process = OpossumProcess.Start(project, project, FreePorts.Next(), environment);
            await process.WaitReadyAsync(TimeSpan.FromSeconds(60), ready);
        }
    }

    [Fact]
    public void A_silo_accepts_every_section_the_gateway_binds()
    {
        var silo = OpossumSiloExtensions.Settings.Select(s => s.Section).Concat(KnownSettings.GatewaySections);

        Assert.Empty(GatewayApp.Settings.Select(s => s.Section).Except(silo, StringComparer.OrdinalIgnoreCase));
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
