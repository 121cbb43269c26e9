namespace Opossum.Testing.Backends;

/// <summary>How the fake backends cut an answer into the chunks they stream: a word (with the space after it) per chunk.</summary>
public static class StreamedText
{
    public static IEnumerable<string> Pieces(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != ' ') continue;
            yield return text[start..(i + 1)];
            start = i + 1;
        }
        if (start < text.Length)
            yield return text[start..];
    }
}
