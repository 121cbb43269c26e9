using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Chat;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class QueryType : ObjectGraphType
{
    public QueryType()
    {
        Name = "Query";
        Field<NonNullGraphType<ServiceStatusType>>("serviceStatus")
            .ResolveAsync(async ctx => await Status(ctx).StatusAsync());
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ServiceHealthType>>>>("services")
            .ResolveAsync(async ctx => await Status(ctx).ServicesAsync());
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ModelInfoType>>>>("models")
            .ResolveAsync(async ctx => await Status(ctx).ModelsAsync());
        Field<NonNullGraphType<CacheStatsType>>("cacheStats")
            .ResolveAsync(async ctx => await Status(ctx).CacheStatsAsync());
        Field<ConversationType>("conversation")
            .Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveAsync(async ctx => await Status(ctx).ConversationAsync(ctx.GetArgument<string>("id")));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<TraceSummaryType>>>>("recentTraces")
            .Argument<IntGraphType>("limit", a => a.DefaultValue = 10)
            .Resolve(_ => throw new ExecutionError("recentTraces is not available yet.") { Code = "NOT_IMPLEMENTED" });
    }

    private static StatusService Status(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<StatusService>();
}
