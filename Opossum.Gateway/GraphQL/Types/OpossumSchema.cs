using GraphQL.Types;

namespace Opossum.Gateway.GraphQL.Types;

/// <summary>The v1 GraphQL contract of DESIGN.md.</summary>
public sealed class OpossumSchema : Schema
{
    public OpossumSchema(IServiceProvider services, QueryType query, MutationType mutation) : base(services)
    {
        Query = query;
        Mutation = mutation;
    }
}
