using System.Collections.Concurrent;
using GraphQLParser.AST;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// Parsed and validated documents by query text: each distinct document is parsed and validated
/// once. Only documents that passed validation are kept, so a cached document needs no validation
/// rules again (variables are still coerced per request). Bounded: when full, new documents are
/// simply not cached.
/// </summary>
public sealed class DocumentCache
{
    public const int Capacity = 1000;

    private readonly ConcurrentDictionary<string, GraphQLDocument> _documents = new(StringComparer.Ordinal);

    public bool TryGet(string query, out GraphQLDocument document) => _documents.TryGetValue(query, out document!);

    public void Add(string query, GraphQLDocument document)
    {
        if (_documents.Count < Capacity)
            _documents.TryAdd(query, document);
    }
}
