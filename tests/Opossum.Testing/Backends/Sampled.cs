namespace Opossum.Testing.Backends;

/// <summary>
/// What the fake backends do with a request's sampling parameters, as a model does: the answer ends before the first stop
/// sequence (which is left out), and after at most the token limit, a character counting as a token.
/// </summary>
public static class Sampled
{
    /// <summary>The answer the model writes of <paramref name="text"/>; <c>Cut</c>: it reached <paramref name="maxTokens"/> first.</summary>
    public static (string Text, bool Cut) Answer(string text, IEnumerable<string>? stop, int? maxTokens)
    {
        foreach (var sequence in stop ?? [])
        {
            if (sequence.Length > 0 && text.IndexOf(sequence, StringComparison.Ordinal) is var at and >= 0)
                text = text[..at];
        }
        return maxTokens is { } max && text.Length > max ? (text[..max], true) : (text, false);
    }
}
