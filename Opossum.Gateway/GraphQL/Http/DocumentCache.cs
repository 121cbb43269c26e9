using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
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

    /// <summary>Longer query texts are read into a new string without looking them up first.</summary>
    public const int MaxLookupChars = 64 * 1024;

    private const int StackChars = 512;

    private readonly ConcurrentDictionary<string, GraphQLDocument> _documents = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, GraphQLDocument>.AlternateLookup<ReadOnlySpan<char>> _byText;

    public DocumentCache() => _byText = _documents.GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryGet(string query, out GraphQLDocument document) => _documents.TryGetValue(query, out document!);

    public void Add(string query, GraphQLDocument document)
    {
        if (_documents.Count < Capacity)
            _documents.TryAdd(query, document);
    }

    /// <summary>
    /// The query text at <paramref name="reader"/> (a JSON string): the cached document's own string when it
    /// is the text of one, so a request with a known document makes no copy of its text; a new string otherwise.
    /// </summary>
    public string ReadQuery(ref Utf8JsonReader reader)
    {
        // Unescaped and decoded, the text has at most as many UTF-16 chars as its JSON has bytes.
        var bytes = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (bytes > MaxLookupChars)
            return reader.GetString()!;
        char[]? rented = null;
        var buffer = bytes <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent((int)bytes));
        try
        {
            var text = buffer[..reader.CopyString(buffer)];
            return _byText.TryGetValue(text, out var query, out _) ? query : new string(text);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<char>.Shared.Return(rented);
        }
    }
}
