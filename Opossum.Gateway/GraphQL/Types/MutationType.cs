using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;
using Opossum.Grains;

namespace Opossum.Gateway.GraphQL.Types;

public sealed class MutationType : ObjectGraphType
{
    public MutationType()
    {
        Name = "Mutation";
        Field<NonNullGraphType<ChatResponseType>>("chat")
            .Argument<NonNullGraphType<ChatInputType>>("input")
            .WithComplexityImpact(LimitsOptions.ChatCost)
            .ResolveAsync(async ctx => await ctx.RequestServices!.GetRequiredService<ChatService>()
                .ChatAsync(ctx.GetArgument<ChatInput>("input"), GraphQLRequestContext.TraceIdOf(ctx), GraphQLRequestContext.CallerOf(ctx), ctx.CancellationToken));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ServiceHealthType>>>>("forceServiceCheck")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Description("Checks the backends now (an operator action: needs an admin key when keys are configured).")
            .Argument<StringGraphType>("service")
            .ResolveAsync(async ctx =>
            {
                OperatorDetail.Require(GraphQLRequestContext.CallerOf(ctx), "forceServiceCheck");
                return await Status(ctx).ForceCheckAsync(ctx.GetArgument<string?>("service"));
            });
        Field<NonNullGraphType<BooleanGraphType>>("endConversation")
            .WithComplexityImpact(LimitsOptions.LookupCost)
            .Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveAsync(async ctx => await Conversations(ctx).EndAsync(ctx.GetArgument<string>("id"), GraphQLRequestContext.CallerOf(ctx)));
    }

    private static ConversationService Conversations(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<ConversationService>();
    private static StatusService Status(IResolveFieldContext ctx) => ctx.RequestServices!.GetRequiredService<StatusService>();
}
