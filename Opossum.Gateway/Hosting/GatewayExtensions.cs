using GraphQL;
using GraphQL.Execution;
using GraphQL.Validation;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.GraphQL.Types;
using Opossum.Gateway.GraphQL.WebSockets;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Health;
using Opossum.Gateway.OpenAI;
using Opossum.Gateway.Ollama;
using Opossum.Gateway.Protection;
using Opossum.ServiceDefaults.Configuration;
using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Health;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Gateway.Hosting;

/// <summary>Wiring of the gateway: GraphQL, the cluster connection, health.</summary>
public static class GatewayExtensions
{
    public static IHostApplicationBuilder AddOpossumGateway(this IHostApplicationBuilder builder)
    {
        builder.AddOpossumCluster();
        builder.Services.AddOptions<LimitsOptions>().Bind(builder.Configuration.GetSection(LimitsOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        builder.Services.AddOptions<Web.WebPageOptions>().Configure(o => o.TraceUrl = builder.Configuration[Web.WebPageOptions.TraceUrlSetting] ?? "")
            .ValidateProblemsOnStart(o => o.Problems());
        builder.Services.AddSingleton(ApiKeys.From(builder.Configuration));
        builder.Services.AddSingleton(BrowserOrigins.From(builder.Configuration));
        builder.Services.AddSingleton<ClientLimiter>();
        builder.Services.AddSingleton<Web.WebPage>();
        builder.Services.AddSingleton<ClusterCalls>();
        builder.Services.AddSingleton<ChatService>();
        builder.Services.AddOllamaDoor();
        builder.Services.AddSingleton<StatusService>();
        builder.Services.AddSingleton<ConversationService>();
        builder.Services.AddOpenAIDoor();
        builder.Services.AddSingleton<ChatFailures>();
        builder.Services.AddSingleton<GraphQLErrorMapper>();
        builder.Services.AddSingleton<GraphQLExecutor>();
        builder.Services.AddSingleton<GraphQLHttpEndpoint>();
        builder.Services.AddSingleton<GraphQLWebSocketEndpoint>();
        builder.Services.AddSingleton<DocumentCache>();
        builder.Services.AddSingleton(sp => GraphQLResponseSerializer.Create(sp.GetRequiredService<IErrorInfoProvider>()));
        // Registered first: GraphQL.NET only adds its own validator when none is.
        builder.Services.AddSingleton<IDocumentValidator, CachedDocumentValidator>();
        builder.Services.AddGraphQL(graphql => graphql
            .AddSchema<OpossumSchema>()
            .AddGraphTypes(typeof(OpossumSchema).Assembly)
            .AddSerializer(sp => sp.GetRequiredService<GraphQLResponseSerializer>())
            .AddErrorInfoProvider(o =>
            {
                o.ExposeCodes = false;
                o.ExposeExtensions = true;
            })
            // A document deeper or costlier than the limits is refused before it runs (QUERY_TOO_COMPLEX).
            .AddComplexityAnalyzer((o, services) =>
            {
                var limits = services.GetRequiredService<IOptions<LimitsOptions>>().Value;
                o.MaxDepth = limits.MaxDepth;
                o.MaxComplexity = limits.MaxCost;
                o.DefaultComplexityImpactDelegate = new DocumentCost().Impact;
                o.ValidateComplexityDelegate = context =>
                {
                    // A document that only introspects (what GraphiQL and code generators send) may nest deeper:
                    // graphql-js 17's own introspection query is 15 levels deep, and introspection makes no calls.
                    if (context.Error is not null && context.MaxDepth > limits.MaxDepth && context.MaxDepth <= LimitsOptions.IntrospectionMaxDepth
                        && context.TotalImpact <= limits.MaxCost && OnlyIntrospects(context.ValidationContext.Operation))
                        context.Error = null;
                    return Task.CompletedTask;
                };
            }));
        var health = builder.Services.AddHealthChecks().AddCheck<ClusterReadyCheck>("cluster", tags: [EndpointExtensions.ReadyTag]);
        if (ClusterSettings.From(builder.Configuration).RedisConnection is not null)
            health.AddCheck<RedisReadyCheck>("redis", tags: [EndpointExtensions.ReadyTag]);
        return builder;
    }

    private static bool OnlyIntrospects(GraphQLParser.AST.GraphQLOperationDefinition? operation) =>
        operation is { Operation: GraphQLParser.AST.OperationType.Query }
        && operation.SelectionSet.Selections.All(s => s is GraphQLParser.AST.GraphQLField field && field.Name.StringValue.StartsWith("__", StringComparison.Ordinal));

    public static WebApplication MapOpossumEndpoints(this WebApplication app)
    {
        app.MapOpossumDefaultEndpoints();
        var endpoint = app.Services.GetRequiredService<GraphQLHttpEndpoint>();
        app.UseWebSockets();
        app.Map("/graphql", app.Services.GetRequiredService<BrowserOrigins>().Guard(endpoint.HandleAsync));
        var page = app.Services.GetRequiredService<Web.WebPage>();
        foreach (var path in page.Paths)
            app.MapMethods(path, [HttpMethods.Get, HttpMethods.Head], page.ServeAsync);
        app.MapGet("/traces/recent", RecentTracesAsync);
        app.MapOpenAIDoor();
        app.MapOllamaDoor();
        return app;
    }

    private static async Task<IResult> RecentTracesAsync(HttpContext context, int? limit)
    {
        var caller = context.RequestServices.GetRequiredService<ApiKeys>().Authenticate(context, out var refusal);
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = ApiKeys.Challenge;
            return Results.Json(new { error = refusal }, statusCode: StatusCodes.Status401Unauthorized);
        }
        if (OperatorDetail.Refusal(caller, "/traces/recent") is { } forbidden)
            return Results.Json(new { error = forbidden }, statusCode: StatusCodes.Status403Forbidden);
        var n = limit ?? TraceQuery.DefaultLimit;
        if (TraceQuery.Problem(n) is { } problem)
            return Results.Json(new { error = problem }, statusCode: StatusCodes.Status400BadRequest);
        if (context.RequestServices.GetService<ITraceSummaryStore>() is not { } store)
            return Results.Json(new { error = "OpenTelemetry is disabled (OTEL_ENABLED=false); no traces are kept." }, statusCode: StatusCodes.Status503ServiceUnavailable);
        return Results.Json(await store.RecentAsync(n, context.RequestAborted));
    }
}
