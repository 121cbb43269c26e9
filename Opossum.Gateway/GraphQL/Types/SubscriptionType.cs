using GraphQL;
using GraphQL.Types;
using Opossum.Gateway.Chat;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;

namespace Opossum.Gateway.GraphQL.Types;

/// <summary>Served over text/event-stream (graphql-sse) and WebSocket (graphql-transport-ws) on /graphql.</summary>
public sealed class SubscriptionType : ObjectGraphType
{
    public SubscriptionType()
    {
        Name = "Subscription";
        Field<NonNullGraphType<ChatChunkType>, ChatChunk>("chatStream")
            .Description("The answer to one chat message, chunk by chunk as the model writes it.")
            .Argument<NonNullGraphType<ChatInputType>>("input")
            .WithComplexityImpact(LimitsOptions.ChatCost)
            .ResolveStreamAsync(async ctx => new AsyncEnumerableObservable<ChatChunk>(await ctx.RequestServices!.GetRequiredService<ChatService>()
                .StreamAsync(ctx.GetArgument<ChatInput>("input"), GraphQLRequestContext.TraceIdOf(ctx), GraphQLRequestContext.CallerOf(ctx), ctx.CancellationToken)));
    }
}
