using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class MutationType : ObjectGraphType
{
    public MutationType()
    {
        Name = "Mutation";
        Field<NonNullGraphType<ChatResponseType>>("chat")
            .Argument<NonNullGraphType<ChatInputType>>("input")
            .ResolveAsync(async ctx => await ctx.RequestServices!.GetRequiredService<ChatService>()
                .ChatAsync(ctx.GetArgument<ChatInput>("input"), GraphQLRequestContext.TraceIdOf(ctx), ctx.CancellationToken));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ServiceHealthType>>>>("forceServiceCheck")
            .Argument<StringGraphType>("service")
            .ResolveAsync(async ctx => await Status(ctx).ForceCheckAsync(ctx.GetArgument<string?>("service")));
        Field<NonNullGraphType<BooleanGraphType>>("endConversation")
            .Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveAsync(async ctx => await Status(ctx).EndConversationAsync(ctx.GetArgument<string>("id")));
    }

    private static StatusService Status(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<StatusService>();
}
