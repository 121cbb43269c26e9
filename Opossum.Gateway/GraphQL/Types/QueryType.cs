using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class QueryType : ObjectGraphType
{
    public QueryType()
    {
        Name = "Query";
        Field<NonNullGraphType<ServiceStatusType>>("serviceStatus")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).StatusAsync());
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ServiceHealthType>>>>("services")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).ServicesAsync());
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ModelInfoType>>>>("models")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).ModelsAsync());
        Field<NonNullGraphType<CacheStatsType>>("cacheStats")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).CacheStatsAsync());
        Field<ConversationType>("conversation")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveAsync(async ctx => await Status(ctx).ConversationAsync(ctx.GetArgument<string>("id")));
        Field<NonNullGraphType<UsageType>>("usage")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Description("The calling client's counts against its limits.")
            .ResolveAsync(async ctx =>
            {
                var caller = GraphQLRequestContext.CallerOf(ctx);
                var limiter = ctx.RequestServices!.GetRequiredService<ClientLimiter>();
                return new Usage(caller, limiter.Limits, await limiter.UsageAsync(caller));
            });
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<TraceSummaryType>>>>("recentTraces")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Argument<IntGraphType>("limit", a => a.DefaultValue = TraceQuery.DefaultLimit)
            .ResolveAsync(async ctx =>
            {
                var limit = ctx.GetArgument("limit", TraceQuery.DefaultLimit);
                if (TraceQuery.Problem(limit) is { } problem)
                    throw OpossumException.BadInput(problem);
                var store = ctx.RequestServices!.GetService<ITraceSummaryStore>()
                            ?? throw new ExecutionError("OpenTelemetry is disabled (OTEL_ENABLED=false); no traces are kept.") { Code = ErrorCodes.TelemetryDisabled };
                return await store.RecentAsync(limit, ctx.CancellationToken);
            });
    }

    private static StatusService Status(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<StatusService>();
}
