using GraphQL;
using GraphQL.Execution;
using GraphQL.Validation;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.GraphQL.Types;
using Opossum.Gateway.Health;
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

        builder.Services.AddOpossumModelCatalog(builder.Configuration);
        builder.Services.AddSingleton<ClusterCalls>();
        builder.Services.AddSingleton<ChatService>();
        builder.Services.AddSingleton<StatusService>();
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
            }));
        var health = builder.Services.AddHealthChecks().AddCheck<ClusterReadyCheck>("cluster", tags: [EndpointExtensions.ReadyTag]);
        if (ClusterSettings.From(builder.Configuration).RedisConnection is not null)
            health.AddCheck<RedisReadyCheck>("redis", tags: [EndpointExtensions.ReadyTag]);
        return builder;
    }

    public static WebApplication MapOpossumEndpoints(this WebApplication app)
    {
        app.MapOpossumDefaultEndpoints();
        var endpoint = app.Services.GetRequiredService<GraphQLHttpEndpoint>();
        app.UseWebSockets();
        app.Map("/graphql", endpoint.HandleAsync);
        app.MapGet("/traces/recent", RecentTracesAsync);
        return app;
    }

    private static async Task<IResult> RecentTracesAsync(HttpContext context, int? limit)
    {
        var n = limit ?? TraceQuery.DefaultLimit;
        if (TraceQuery.Problem(n) is { } problem)
            return Results.Json(new { error = problem }, statusCode: StatusCodes.Status400BadRequest);
        if (context.RequestServices.GetService<ITraceSummaryStore>() is not { } store)
            return Results.Json(new { error = "OpenTelemetry is disabled (OTEL_ENABLED=false); no traces are kept." }, statusCode: StatusCodes.Status503ServiceUnavailable);
        return Results.Json(await store.RecentAsync(n, context.RequestAborted));
    }
}
