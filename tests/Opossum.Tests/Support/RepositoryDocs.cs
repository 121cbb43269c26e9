using System.Globalization;
using System.Text.RegularExpressions;

namespace Opossum.Tests.Support;

/// <summary>
/// The repository's own documentation, read by the tests that keep it true: where a doc quotes a value
/// the code holds, the test that proves the behaviour also checks that the doc states that value.
/// </summary>
public static partial class RepositoryDocs
{
    /// <summary>A document of the repository (path relative to its root), with \n line ends.</summary>
    public static string Read(string path) =>
        File.ReadAllText(Path.Combine(Repository.Root, path)).ReplaceLineEndings("\n");

    /// <summary>A number as the docs write it: thousands separated by a space ("4 096").</summary>
    public static string Number(long value) =>
        value.ToString("#,0", CultureInfo.InvariantCulture).Replace(',', ' ');

    /// <summary>Fails, naming the doc and what it should say, unless <paramref name="path"/> contains <paramref name="statement"/>.</summary>
    public static void AssertStates(string path, string statement)
    {
        if (!Read(path).Contains(statement, StringComparison.Ordinal))
            throw new Xunit.Sdk.XunitException($"{path} should state \"{statement}\" (the value the code holds), and does not.");
    }

    /// <summary>The text of the one fenced block of <paramref name="language"/> in a document.</summary>
    public static string CodeBlock(string path, string language)
    {
        var blocks = Regex.Matches(Read(path), $"^```{Regex.Escape(language)}\n(.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline);
        return Assert.Single(blocks).Groups[1].Value.TrimEnd('\n');
    }

    /// <summary>
    /// The rows of every markdown table in a document whose header's first cell is <paramref name="firstHeader"/>,
    /// each as its cells with surrounding spaces trimmed.
    /// </summary>
    public static List<string[]> TableRows(string path, string firstHeader)
    {
        var rows = new List<string[]>();
        var inTable = false;
        foreach (var line in Read(path).Split('\n'))
        {
            if (!line.StartsWith('|'))
            {
                inTable = false;
                continue;
            }
            var cells = line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            if (cells[0] == firstHeader)
                inTable = true;
            else if (inTable && !Separator().IsMatch(line))
                rows.Add(cells);
        }
        return rows;
    }

    /// <summary>The text between the first pair of backticks of a table cell, or null when it has none.</summary>
    public static string? Code(string cell) => CodeSpan().Match(cell) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^\|[\s\-:|]+\|$")]
    private static partial Regex Separator();

    [GeneratedRegex("`([^`]*)`")]
    private static partial Regex CodeSpan();
}
