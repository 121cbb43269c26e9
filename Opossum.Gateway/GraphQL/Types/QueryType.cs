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
            .Description("Each backend service and its servers. With keys configured, server URLs and raw backend errors are for admin keys; client keys see states and reasons in words.")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).ServicesAsync(GraphQLRequestContext.CallerOf(ctx)));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ModelInfoType>>>>("models")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).ModelsAsync());
        Field<NonNullGraphType<CacheStatsType>>("cacheStats")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .ResolveAsync(async ctx => await Status(ctx).CacheStatsAsync());
        Field<ConversationType>("conversation")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveAsync(async ctx => await Conversations(ctx).GetAsync(ctx.GetArgument<string>("id"), GraphQLRequestContext.CallerOf(ctx)));
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
            .Description("The newest traces of every client (when keys are configured: for admin keys only).")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Argument<IntGraphType>("limit", a => a.DefaultValue = TraceQuery.DefaultLimit)
            .ResolveAsync(async ctx =>
            {
                OperatorDetail.Require(GraphQLRequestContext.CallerOf(ctx), "recentTraces");
                var limit = ctx.GetArgument("limit", TraceQuery.DefaultLimit);
                if (TraceQuery.Problem(limit) is { } problem)
                    throw OpossumException.BadInput(problem);
                var store = ctx.RequestServices!.GetService<ITraceSummaryStore>()
                            ?? throw new ExecutionError("OpenTelemetry is disabled (OTEL_ENABLED=false); no traces are kept.") { Code = ErrorCodes.TelemetryDisabled };
                return await store.RecentAsync(limit, ctx.CancellationToken);
            });
    }

    private static ConversationService Conversations(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<ConversationService>();
    private static StatusService Status(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<StatusService>();
}
