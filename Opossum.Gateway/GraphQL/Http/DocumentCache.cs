using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;
using GraphQLParser.AST;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// Parsed and validated documents by query text: each distinct document is parsed and validated
/// once. Only documents that passed validation are kept, so a cached document needs no validation
/// rules again (variables are still coerced per request). Bounded by count and by the characters of
/// text held (a parsed document's memory follows its text): when full, new documents are simply not cached.
/// </summary>
public sealed class DocumentCache
{
    public const int Capacity = 1000;

    /// <summary>Characters of query text held at most, all documents together.</summary>
    public const long MaxTotalChars = 4 * 1024 * 1024;

    /// <summary>Longer query texts are read into a new string without looking them up first (nor are they cached).</summary>
    public const int MaxLookupChars = 64 * 1024;

    private const int StackChars = 512;

    private readonly ConcurrentDictionary<string, GraphQLDocument> _documents = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, GraphQLDocument>.AlternateLookup<ReadOnlySpan<char>> _byText;
    private long _chars;

    public DocumentCache() => _byText = _documents.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Characters of query text the cache holds now.</summary>
    public long Chars => Interlocked.Read(ref _chars);

    public int Count => _documents.Count;

    public bool TryGet(string query, out GraphQLDocument document) => _documents.TryGetValue(query, out document!);

    public void Add(string query, GraphQLDocument document)
    {
        // A directive can make the cost depend on variables (@include(if: $x)): such a document is checked every time.
        if (query.Length > MaxLookupChars || query.Contains('@') || _documents.Count >= Capacity)
            return;
        if (Interlocked.Add(ref _chars, query.Length) > MaxTotalChars || !_documents.TryAdd(query, document))
            Interlocked.Add(ref _chars, -query.Length);
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
