using GraphQL.Types;

namespace Opossum.Gateway.GraphQL.Types;

/// <summary>The GraphQL schema the gateway serves; docs/contracts.md prints it, and a test keeps the two the same.</summary>
public sealed class OpossumSchema : Schema
{
    public OpossumSchema(IServiceProvider services, QueryType query, MutationType mutation, SubscriptionType subscription) : base(services)
    {
        Query = query;
        Mutation = mutation;
        Subscription = subscription;
    }
}
