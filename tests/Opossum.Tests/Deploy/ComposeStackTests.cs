using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Opossum.Tests.Deploy;

/// <summary>
/// No Docker engine runs here, so the compose stack is checked the way a reviewer would: every
/// mounted file exists, names and ports agree across the compose file and the configs it mounts,
/// and the collector pipeline names only components it defines.
/// </summary>
public sealed class ComposeStackTests
{
    private static readonly string Root = Repository.Root;

    private static YamlMappingNode Load(string relativePath)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Root, relativePath));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlMappingNode Map(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node).Children[new YamlScalarNode(key)];

    private static YamlNode? Get(YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static IEnumerable<string> Strings(YamlNode? node) => node switch
    {
        YamlSequenceNode seq => seq.Children.Select(c => ((YamlScalarNode)c).Value!),
        YamlScalarNode scalar => [scalar.Value!],
        _ => [],
    };

    private static readonly YamlMappingNode Compose = Load("docker-compose.yml");
    private static readonly YamlMappingNode Services = Map(Compose, "services");
    private static IEnumerable<string> ServiceNames => Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);
    private static YamlNode Service(string name) => Services.Children[new YamlScalarNode(name)];

    private static Dictionary<string, string> Environment(string service) => Get(Service(service), "environment") is null ? [] :
        ((YamlMappingNode)Get(Service(service), "environment")!).Children
            .Where(kv => kv.Key is YamlScalarNode { Value: not "<<" })
            .ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!)
            .Concat(((YamlMappingNode)Get(Service(service), "environment")!).Children
                .Where(kv => kv.Key is YamlScalarNode { Value: "<<" })
                .SelectMany(kv => ((YamlMappingNode)kv.Value).Children)
                .Select(kv => new KeyValuePair<string, string>(((YamlScalarNode)kv.Key).Value!, ((YamlScalarNode)kv.Value).Value!)))
            .GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.First().Value);

    /// <summary>Each published port as compose's short syntax gives it: <c>[address:]host:container</c>; no address is every interface.</summary>
    private static IEnumerable<(string Address, string Host, string Container)> Published(string service) =>
        Strings(Get(Service(service), "ports")).Select(p => p.Split(':')).Select(p => p.Length == 3 ? (p[0], p[1], p[2]) : ("", p[0], p[1]));

    private static IEnumerable<string> HostPorts(string service) => Published(service).Select(p => p.Host);

    private static string Condition(string service, string dependency) =>
        ((YamlScalarNode)Get(Get(Get(Service(service), "depends_on")!, dependency)!, "condition")!).Value!;

    [Fact]
    public void The_stack_has_every_service_users_need()
    {
        Assert.Equal(["gateway", "jaeger", "ollama", "ollama-pull", "otel-collector", "prometheus", "redis", "silo"], ServiceNames.Order());
        Assert.StartsWith("ollama/ollama", Strings(Get(Service("ollama"), "image")).Single());
        Assert.StartsWith("otel/opentelemetry-collector-contrib:", Strings(Get(Service("otel-collector"), "image")).Single());
        Assert.StartsWith("jaegertracing/all-in-one:", Strings(Get(Service("jaeger"), "image")).Single());
        Assert.Equal("true", ((YamlScalarNode)Get(Get(Service("jaeger"), "environment")!, "COLLECTOR_OTLP_ENABLED")!).Value);
        Assert.Contains("16686", HostPorts("jaeger"));
        Assert.Contains("8000", HostPorts("gateway"));
        Assert.Empty(HostPorts("silo")); // fixed host ports would stop `--scale silo=3`
    }

    [Fact]
    public void Only_the_gateway_is_published_beyond_this_machine()
    {
        var published = ServiceNames.SelectMany(s => Published(s).Select(p => (Service: s, p.Address, p.Host))).ToList();

        Assert.Equal([("gateway", "", "8000")], published.Where(p => p.Address != "127.0.0.1").ToList());
        Assert.Equal(["jaeger:16686", "ollama:11434", "otel-collector:4318", "prometheus:9090"],
            published.Where(p => p.Address == "127.0.0.1").Select(p => $"{p.Service}:{p.Host}").Order());
    }

    [Fact]
    public void The_gateway_starts_once_the_model_of_a_first_chat_is_pulled()
    {
        // Without GEMINI_API_KEY a chat naming no model goes to the first Ollama model of models.json.
        var models = JsonNode.Parse(File.ReadAllText(Path.Combine(Root, "Opossum.ServiceDefaults/models.json")))!["Models"]!.AsArray();
        var first = models.First(m => m!["Backend"]!.GetValue<string>() == "ollama")!;
        var apiName = (first["ApiName"] ?? first["Name"])!.GetValue<string>();

        var pull = Service("ollama-pull");
        Assert.Equal(Strings(Get(Service("ollama"), "image")), Strings(Get(pull, "image")));
        Assert.Equal("ollama:11434", Environment("ollama-pull")["OLLAMA_HOST"]);
        Assert.Equal(apiName, Regex.Match(Environment("ollama-pull")["MODELS"], @"^\$\{\w+:-(.+)\}$").Groups[1].Value);
        Assert.Contains("ollama pull \"$$model\"", Strings(Get(pull, "command")).Single());
        Assert.Equal("no", ((YamlScalarNode)Get(pull, "restart")!).Value);
        Assert.Equal(["CMD", "ollama", "list"], Strings(Get(Get(Service("ollama"), "healthcheck")!, "test")));
        Assert.Equal("service_healthy", Condition("ollama-pull", "ollama"));
        Assert.Equal("service_completed_successfully", Condition("gateway", "ollama-pull"));
    }

    [Fact]
    public void Only_the_silos_which_call_Gemini_get_its_key()
    {
        var holders = ServiceNames.Where(s => Environment(s).ContainsKey("GEMINI_API_KEY"));

        Assert.Equal(["silo"], holders);
        Assert.DoesNotContain(Map(Compose, "x-opossum-env").Children.Keys, k => ((YamlScalarNode)k).Value == "GEMINI_API_KEY");
    }

    [Fact]
    public void Every_mounted_file_and_dockerfile_exists_and_dockerfiles_are_multi_stage()
    {
        foreach (var service in ServiceNames)
        {
            foreach (var volume in Strings(Get(Service(service), "volumes")).Where(v => v.StartsWith("./")))
                Assert.True(File.Exists(Path.Combine(Root, volume.Split(':')[0])), $"{service} mounts missing {volume}");
            if (Get(Service(service), "build") is { } build)
            {
                var dockerfile = ((YamlScalarNode)Get(build, "dockerfile")!).Value!;
                var text = File.ReadAllText(Path.Combine(Root, dockerfile));
                Assert.True(Regex.Matches(text, "^FROM ", RegexOptions.Multiline).Count >= 2, $"{dockerfile} is not multi-stage");
                foreach (Match copy in Regex.Matches(text, @"^COPY (?!--from)(\S+\.csproj) ", RegexOptions.Multiline))
                    Assert.True(File.Exists(Path.Combine(Root, copy.Groups[1].Value)), $"{dockerfile} copies missing {copy.Groups[1].Value}");
                var project = Regex.Match(text, @"dotnet publish (\S+\.csproj)").Groups[1].Value;
                Assert.True(File.Exists(Path.Combine(Root, project)), $"{dockerfile} publishes missing {project}");
                var port = Regex.Match(text, @"ASPNETCORE_URLS=http://\+:(\d+)").Groups[1].Value;
                Assert.Equal(Environment(service)["ASPNETCORE_URLS"], $"http://+:{port}");
            }
        }
    }

    [Fact]
    public void Opossum_services_point_at_services_of_the_stack_on_their_ports()
    {
        foreach (var service in new[] { "silo", "gateway" })
        {
            var env = Environment(service);
            Assert.Equal("redis", env["OPOSSUM_CLUSTERING"]);
            Assert.Equal("redis:6379", env["REDIS_CONNECTION"]);
            Assert.Equal("http://ollama:11434", env["OLLAMA_BASE_URL"]);
            var otlp = new Uri(env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
            Assert.Contains(otlp.Host, ServiceNames);
            Assert.Equal(CollectorOtlpHttpPort(), otlp.Port);
            Assert.Contains(otlp.Port.ToString(), HostPorts("otel-collector"));
        }
        Assert.Contains("11434", HostPorts("ollama"));
    }

    private static int CollectorOtlpHttpPort()
    {
        var collector = Load("deploy/otel-collector.yaml");
        var endpoint = ((YamlScalarNode)Get(Get(Get(Get(Get(collector, "receivers")!, "otlp")!, "protocols")!, "http")!, "endpoint")!).Value!;
        return int.Parse(endpoint.Split(':')[1]);
    }

    [Fact]
    public void The_collector_pipelines_use_only_defined_components_and_export_to_jaeger_and_prometheus()
    {
        var collector = Load("deploy/otel-collector.yaml");
        var pipelines = Map(Map(collector, "service"), "pipelines");
        foreach (var (kind, section) in new[] { ("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters") })
        {
            var defined = Map(collector, section).Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToHashSet();
            foreach (var pipeline in pipelines.Children)
                foreach (var used in Strings(Get(pipeline.Value, kind)))
                    Assert.True(defined.Contains(used), $"pipeline {pipeline.Key} uses undefined {kind[..^1]} '{used}'");
        }

        var exporters = Map(collector, "exporters");
        Assert.DoesNotContain(exporters.Children.Keys, k => ((YamlScalarNode)k).Value is "jaeger" or "logging"); // gone from current collectors
        var jaeger = new Uri("http://" + ((YamlScalarNode)Get(Get(exporters, "otlp/jaeger")!, "endpoint")!).Value);
        Assert.Equal("jaeger", jaeger.Host);
        Assert.Equal("opossum", ((YamlScalarNode)Get(Get(exporters, "prometheus")!, "namespace")!).Value);
        Assert.Contains("debug", Strings(Get(pipelines.Children[new YamlScalarNode("traces")], "exporters")));
        Assert.Contains("otlp/jaeger", Strings(Get(pipelines.Children[new YamlScalarNode("traces")], "exporters")));
        Assert.Contains("prometheus", Strings(Get(pipelines.Children[new YamlScalarNode("metrics")], "exporters")));
    }

    [Fact]
    public void Prometheus_scrapes_the_gateway_every_silo_and_the_collector_on_their_ports()
    {
        var prometheus = Load("deploy/prometheus.yml");
        var jobs = ((YamlSequenceNode)Get(prometheus, "scrape_configs")!).Children.ToDictionary(j => ((YamlScalarNode)Get(j, "job_name")!).Value!);

        var gateway = Strings(Get(((YamlSequenceNode)Get(jobs["gateway"], "static_configs")!).Children[0], "targets")).Single();
        Assert.Equal($"gateway:{new Uri(Environment("gateway")["ASPNETCORE_URLS"].Replace("+", "x")).Port}", gateway);

        var silo = ((YamlSequenceNode)Get(jobs["silo"], "dns_sd_configs")!).Children[0];
        Assert.Equal(["silo"], Strings(Get(silo, "names")));
        Assert.Equal(new Uri(Environment("silo")["ASPNETCORE_URLS"].Replace("+", "x")).Port.ToString(), ((YamlScalarNode)Get(silo, "port")!).Value);

        var collectorTarget = Strings(Get(((YamlSequenceNode)Get(jobs["otel-collector"], "static_configs")!).Children[0], "targets")).Single();
        var collectorPrometheus = ((YamlScalarNode)Get(Get(Get(Load("deploy/otel-collector.yaml"), "exporters")!, "prometheus")!, "endpoint")!).Value!;
        Assert.Equal($"otel-collector:{collectorPrometheus.Split(':')[1]}", collectorTarget);
    }
}
