using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using GraphQL;
using GraphQL.Execution;
using GraphQL.Instrumentation;
using GraphQL.Types;
using GraphQL.Validation;
using GraphQLParser.AST;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL.NET's validator, with a shorter way through for documents from the <see cref="DocumentCache"/>
/// (validated once, so run with no rules). For those GraphQL.NET still walks the document on every
/// request: once to find where each variable is used, which matters only for a variable declared
/// nullable, and once to coerce each field's arguments (walking an operation stripped of its selections
/// instead cost as much). For an operation made of
/// fields alone (no fragments, directives or introspection fields) whose variables are all non-null,
/// this validator has GraphQL.NET's <see cref="ValidationContext.GetVariablesValuesAsync"/> coerce the
/// variables against an operation with the same variables and no selections, in a context kept for that
/// operation (which remembers the operation's variable usages, so it walks it once, not per request);
/// then it coerces each field's arguments with GraphQL.NET's own <see cref="ExecutionHelper.GetArguments"/>,
/// from a list of the fields made once per document. Every other document, and every document not from
/// the cache, goes through GraphQL.NET's validator unchanged.
/// </summary>
// Kept because GraphQL.NET's validator alone costs a cached chat clearly more CPU and allocation (docs/performance.md).
public sealed class CachedDocumentValidator : IDocumentValidator
{
    private readonly DocumentValidator _graphQL = new();
    // Null for an operation that takes GraphQL.NET's own way.
    private readonly ConditionalWeakTable<GraphQLOperationDefinition, Plan?> _plans = new();

    public Task<IValidationResult> ValidateAsync(in ValidationOptions options)
    {
        var cached = options.Rules is not null && !options.Rules.Any();
        if (!cached || PlanFor(options.Operation, options.Document, options.Schema) is not { } plan)
            return _graphQL.ValidateAsync(in options);
        return ValidateCachedAsync(options, plan);
    }

    private static async Task<IValidationResult> ValidateCachedAsync(ValidationOptions options, Plan plan)
    {
        var context = plan.Rent(options);
        Variables variables;
        List<ValidationError>? errors;
        try
        {
            (variables, errors) = await context.GetVariablesValuesAsync();
        }
        finally
        {
            plan.Return(context);
        }
        if (errors is not null)
            return new ValidationResult(errors) { Variables = variables };

        Dictionary<GraphQLField, IDictionary<string, ArgumentValue>>? arguments = null;
        try
        {
            foreach (var (field, definition) in plan.FieldsWithArguments)
                if (ExecutionHelper.GetArguments(definition.Arguments, field.Arguments, variables, options.Document, field, null) is { } values)
                    (arguments ??= []).Add(field, values);
        }
        catch (ValidationError error)
        {
            // GraphQL.NET would go on to the other fields and report their errors too; the first is enough to refuse.
            return new ValidationResult(error) { Variables = variables };
        }
        return new ValidationResult([]) { Variables = variables, ArgumentValues = arguments };
    }

    private Plan? PlanFor(GraphQLOperationDefinition operation, GraphQLDocument document, ISchema schema)
    {
        // Looked up first: the factory captures the document and schema, an allocation each request would pay for.
        if (!_plans.TryGetValue(operation, out var plan))
            plan = _plans.GetValue(operation, o => Plan.For(o, document, schema));
        return plan;
    }

    /// <summary>How one cached operation is validated: what its variables are coerced against, and the fields given arguments.</summary>
    private sealed class Plan
    {
        /// <summary>At most this many idle contexts are kept: one per request being validated at the same moment.</summary>
        private const int MaxIdle = 16;

        private readonly GraphQLOperationDefinition _variablesOnly;
        private readonly GraphQLDocument _document;
        private readonly ISchema _schema;
        private readonly ConcurrentQueue<ValidationContext> _idle = new();

        private Plan(GraphQLOperationDefinition variablesOnly, List<(GraphQLField, FieldType)> fieldsWithArguments, GraphQLDocument document, ISchema schema)
        {
            _variablesOnly = variablesOnly;
            FieldsWithArguments = fieldsWithArguments;
            _document = document;
            _schema = schema;
        }

        /// <summary>Every field of the operation that is given arguments, with its definition.</summary>
        public List<(GraphQLField Field, FieldType Definition)> FieldsWithArguments { get; }

        /// <summary>A context for coercing one request's variables; give it back with <see cref="Return"/>.</summary>
        public ValidationContext Rent(in ValidationOptions options)
        {
            if (!_idle.TryDequeue(out var context))
                context = new ValidationContext { Schema = _schema, Document = _document, Operation = _variablesOnly, TypeInfo = new TypeInfo(_schema) };
            context.Variables = options.Variables;
            context.Extensions = options.Extensions;
            context.UserContext = options.UserContext;
            context.RequestServices = options.RequestServices;
            context.User = options.User;
            context.CancellationToken = options.CancellationToken;
            context.Metrics = options.Metrics;
            return context;
        }

        /// <summary>Forgets the request (its inputs, user and services) and keeps the context, with the operation's variable usages, for the next.</summary>
        public void Return(ValidationContext context)
        {
            context.Variables = Inputs.Empty;
            context.Extensions = Inputs.Empty;
            context.UserContext = System.Collections.ObjectModel.ReadOnlyDictionary<string, object?>.Empty;
            context.RequestServices = null;
            context.User = null;
            context.CancellationToken = default;
            context.Metrics = Metrics.None;
            if (_idle.Count < MaxIdle)
                _idle.Enqueue(context);
        }

        public static Plan? For(GraphQLOperationDefinition operation, GraphQLDocument document, ISchema schema)
        {
            if (operation.Directives?.Count > 0)
                return null;
            if (operation.Variables?.Items.Any(v => v.Type is not GraphQLNonNullType || v.Directives?.Count > 0) == true)
                return null;
            IComplexGraphType? root = operation.Operation switch
            {
                OperationType.Query => schema.Query,
                OperationType.Mutation => schema.Mutation,
                _ => null,
            };
            var fields = new List<(GraphQLField, FieldType)>();
            if (root is null || !Collect(operation.SelectionSet, root, fields))
                return null;
            var variablesOnly = new GraphQLOperationDefinition(new GraphQLSelectionSet([]))
            {
                Operation = operation.Operation,
                Name = operation.Name,
                Variables = operation.Variables,
            };
            return new Plan(variablesOnly, fields, document, schema);
        }

        private static bool Collect(GraphQLSelectionSet selections, IComplexGraphType parent, List<(GraphQLField, FieldType)> fields)
        {
            foreach (var selection in selections.Selections)
            {
                if (selection is not GraphQLField field || field.Directives?.Count > 0 || field.Name.Value.Span.StartsWith("__"))
                    return false;
                if (parent.Fields.Find(field.Name.Value) is not { } definition)
                    return false;
                if (field.Arguments?.Count > 0)
                    fields.Add((field, definition));
                if (field.SelectionSet is { } nested
                    && (definition.ResolvedType?.GetNamedType() is not IComplexGraphType type || !Collect(nested, type, fields)))
                    return false;
            }
            return true;
        }
    }
}
