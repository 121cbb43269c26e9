using System.Text;
using BenchmarkDotNet.Attributes;
using GraphQL;
using GraphQL.Execution;
using GraphQL.Validation;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.GraphQL.Types;
using Opossum.ServiceDefaults.Telemetry;
using GraphQLParser;
using GraphQLParser.AST;

namespace Opossum.Bench.Micro;

/// <summary>
/// The gateway's GraphQL work for one request (execute + serialize), with the document parsed and
/// validated each time versus taken from the document cache — and a cached document whose variable is
/// non-null, validated by GraphQL.NET's own validator versus the gateway's (<see cref="CachedDocumentValidator"/>).
/// The query reads the in-memory trace ring, so no grain is involved and the figure is GraphQL's own.
/// </summary>
[MemoryDiagnoser]
public class GraphQLBenchmarks
{
    private const string Query = "query Recent($limit: Int) { recentTraces(limit: $limit) { traceId rootName startTime durationMs spanCount status services } }";
    private const string NonNullQuery = "query Recent($limit: Int!) { recentTraces(limit: $limit) { traceId rootName startTime durationMs spanCount status services } }";
    private IServiceProvider _services = null!;
    private IDocumentExecuter<OpossumSchema> _executer = null!;
    private GraphQLResponseSerializer _serializer = null!;
    private GraphQLDocument _document = null!;
    private GraphQLDocument _nonNullDocument = null!;
    private IServiceProvider _gatewayServices = null!;
    private IDocumentExecuter<OpossumSchema> _gatewayExecuter = null!;
    private Inputs _variables = null!;

    [GlobalSetup]
    public void Setup()
    {
        var store = new InMemoryTraceSummaryStore();
        var start = DateTime.UtcNow;
        for (var i = 0; i < 10; i++)
            store.Record(new SpanRecord(Guid.NewGuid().ToString("N"), "POST /graphql", start.AddSeconds(i), start.AddSeconds(i).AddMilliseconds(12), false, "opossum-search", "ollama"));
        (_services, _executer) = Build(store, gatewayValidator: false);
        (_gatewayServices, _gatewayExecuter) = Build(store, gatewayValidator: true);
        _serializer = _services.GetRequiredService<GraphQLResponseSerializer>();
        _document = Parser.Parse(Query);
        _nonNullDocument = Parser.Parse(NonNullQuery);
        _variables = _serializer.Deserialize<Inputs>("{\"limit\": 10}")!;
    }

    [Benchmark(Baseline = true)]
    public Task ParseValidateExecuteSerialize() => RunAsync(new ExecutionOptions { Query = Query, Variables = _variables, RequestServices = _services });

    [Benchmark]
    public Task CachedDocumentExecuteSerialize() => RunAsync(Cached(Query, _document, _services));

    [Benchmark]
    public Task CachedNonNullDocument_GraphQLNetValidator() => RunAsync(Cached(NonNullQuery, _nonNullDocument, _services));

    [Benchmark]
    public Task CachedNonNullDocument_GatewayValidator() => RunAsync(Cached(NonNullQuery, _nonNullDocument, _gatewayServices), _gatewayExecuter);

    // As the endpoint runs a document from its cache: no validation rules.
    private ExecutionOptions Cached(string query, GraphQLDocument document, IServiceProvider services)
    {
        var options = new ExecutionOptions { Query = query, Document = document, Variables = _variables, RequestServices = services };
        options.ValidationRules = options.CachedDocumentValidationRules ?? [];
        return options;
    }

    private static (IServiceProvider, IDocumentExecuter<OpossumSchema>) Build(InMemoryTraceSummaryStore store, bool gatewayValidator)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ITraceSummaryStore>(store);
        services.AddSingleton(sp => GraphQLResponseSerializer.Create(sp.GetRequiredService<IErrorInfoProvider>()));
        if (gatewayValidator)
            services.AddSingleton<IDocumentValidator, CachedDocumentValidator>();
        services.AddGraphQL(b => b.AddSchema<OpossumSchema>().AddGraphTypes(typeof(OpossumSchema).Assembly)
            .AddSerializer(sp => sp.GetRequiredService<GraphQLResponseSerializer>()));
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IDocumentExecuter<OpossumSchema>>());
    }

    private async Task RunAsync(ExecutionOptions options, IDocumentExecuter<OpossumSchema>? executer = null)
    {
        var result = await (executer ?? _executer).ExecuteAsync(options);
        using var body = new PooledBufferWriter(1024); // as the endpoint does
        _serializer.Write(body, result);
    }
}
