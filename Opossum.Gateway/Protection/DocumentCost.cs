using GraphQL;
using GraphQL.Types;
using GraphQL.Validation.Complexity;
using GraphQLParser.AST;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Gateway.Protection;

/// <summary>
/// What a field costs, so that <see cref="LimitsOptions.MaxCost"/> bounds both the work of a document and the size
/// of its response: every value the response can hold costs 1 (a value under a list once per item it can hold),
/// plus 1 per <see cref="AliasCharsPerCost"/> characters of its alias, which the response repeats with it; fields
/// that call the cluster or make a generation cost more (<see cref="LimitsOptions.LookupCost"/>, <see cref="LimitsOptions.ChatCost"/>),
/// and so do texts as long as a message (<see cref="TextCost"/>). Introspection values cost <see cref="IntrospectionWeight"/>
/// (the schema is in memory, and tools read all of it), a description 1. So each unit of cost is at most about
/// <see cref="BytesPerCost"/> of response, answers aside: a model's answer is as long as the model wrote it.
/// Only the document's text decides the cost (never variables), so a cached document costs what it cost when checked.
/// </summary>
public sealed class DocumentCost
{
    /// <summary>Items a list of data is taken to hold: conversations keep 10 turns, and there are fewer services, servers and models.</summary>
    public const int ListItems = 10;

    public const int AliasCharsPerCost = 32;

    /// <summary>What an introspection value costs beside a data value.</summary>
    public const double IntrospectionWeight = 0.1;

    /// <summary>The cost of a text that may be as long as a message (32 KiB): a turn's content, an answer.</summary>
    public const int TextCost = 32;

    /// <summary>Response bytes one unit of cost can hold at most (a message answer aside).</summary>
    public const int BytesPerCost = 1024;

    private IntrospectionCounts? _counts;

    public FieldComplexityResult Impact(FieldImpactContext context)
    {
        var field = context.FieldDefinition;
        double impact = 1 + (context.FieldAst.Alias?.Name.Value.Length ?? 0) / AliasCharsPerCost;
        var introspection = IsIntrospection(context);
        var items = !IsList(field.ResolvedType) ? 1 : introspection ? IntrospectionItems(context, field.Name) : DataItems(context.FieldAst, field.Name);
        if (introspection && field.Name != "description")
            impact *= IntrospectionWeight;
        // A list of scalars has no selections for the items to multiply: its items are its values.
        return field.ResolvedType!.GetNamedType() is ScalarGraphType ? new(impact * items, 1) : new(impact, items);
    }

    private static bool IsIntrospection(FieldImpactContext context) =>
        context.FieldDefinition.Name.StartsWith("__", StringComparison.Ordinal) || context.ParentType.Name.StartsWith("__", StringComparison.Ordinal);

    private static bool IsList(IGraphType? type) => (type is NonNullGraphType nonNull ? nonNull.ResolvedType : type) is ListGraphType;

    // recentTraces holds as many as its limit asks for; a variable may ask for the most.
    private static double DataItems(GraphQLField field, string name)
    {
        if (name != "recentTraces")
            return ListItems;
        var limit = field.Arguments?.Items.FirstOrDefault(a => a.Name.Value == "limit")?.Value;
        return limit switch
        {
            null => TraceQuery.DefaultLimit,
            GraphQLIntValue literal when int.TryParse(literal.Value, out var n) => Math.Clamp(n, 1, TraceQuery.MaxLimit),
            _ => TraceQuery.MaxLimit,
        };
    }

    // A list of the schema holds what the schema has: under a list that goes through all of its kind (types, fields,
    // directives) the mean per item, which sums to the exact total; under one type or field, the most any has.
    private double IntrospectionItems(FieldImpactContext context, string name)
    {
        var counts = _counts ??= IntrospectionCounts.Of(context.ValidationContext.Schema);
        var underAll = context.Parent is { } parent && IsList(parent.FieldDefinition.ResolvedType);
        var (mean, most) = (context.ParentType.Name, name) switch
        {
            ("__Schema", "types") => (counts.Types, counts.Types),
            ("__Schema", "directives") => (counts.Directives, counts.Directives),
            ("__Field", "args") => counts.FieldArgs,
            ("__Directive", "args") => counts.DirectiveArgs,
            ("__Directive", "locations") => counts.Locations,
            ("__Type", "fields") => counts.Fields,
            ("__Type", "inputFields") => counts.InputFields,
            ("__Type", "enumValues") => counts.EnumValues,
            ("__Type", "interfaces") => counts.Interfaces,
            ("__Type", "possibleTypes") => counts.PossibleTypes,
            _ => (counts.Types, counts.Types), // a list this schema does not know of yet: as long as the longest
        };
        return underAll ? mean : most;
    }

    /// <summary>How many of each the schema has: per item of its kind on average, and the most any item has.</summary>
    private sealed record IntrospectionCounts(double Types, double Directives, (double, double) Fields, (double, double) InputFields,
        (double, double) EnumValues, (double, double) Interfaces, (double, double) PossibleTypes, (double, double) FieldArgs,
        (double, double) DirectiveArgs, (double, double) Locations)
    {
        public static IntrospectionCounts Of(ISchema schema)
        {
            var types = schema.AllTypes.ToList();
            var directives = schema.Directives.ToList();
            var fields = types.OfType<IComplexGraphType>().Where(t => t is not IInputObjectGraphType).SelectMany(t => t.Fields).ToList();
            return new(types.Count, directives.Count,
                Spread(types, t => t is IComplexGraphType and not IInputObjectGraphType ? ((IComplexGraphType)t).Fields.Count : 0),
                Spread(types, t => t is IInputObjectGraphType input ? input.Fields.Count : 0),
                Spread(types, t => t is EnumerationGraphType e ? e.Values.Count : 0),
                Spread(types, t => t is IImplementInterfaces i ? i.ResolvedInterfaces.Count : 0),
                Spread(types, t => t is IAbstractGraphType a ? a.PossibleTypes.Count : 0),
                Spread(fields, f => f.Arguments?.Count ?? 0),
                Spread(directives, d => d.Arguments?.Count ?? 0),
                Spread(directives, d => d.Locations.Count));
        }

        private static (double Mean, double Most) Spread<T>(List<T> items, Func<T, int> count) =>
            items.Count == 0 ? (0, 0) : (items.Sum(count) / (double)items.Count, items.Max(count));
    }
}
