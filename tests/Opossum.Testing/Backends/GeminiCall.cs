using System.Text.Json.Nodes;

namespace Opossum.Testing.Backends;

/// <summary>
/// How the fake fails a request: <see cref="Blocked"/> refuses the prompt (promptFeedback.blockReason SAFETY); <see cref="Safety"/>
/// stops the answer for safety (finishReason SAFETY): streamed after its first word, whole with no text.
/// </summary>
public enum GeminiFailure { None, ServerError, EmptyCandidates, Blocked, RateLimited, Safety }

public sealed record GeminiBehaviour(GeminiFailure Kind, TimeSpan? Delay = null)
{
    /// <summary>For <see cref="GeminiFailure.RateLimited"/>: the wait Gemini asks for.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Also send the wait as a Retry-After header (Gemini itself puts it in the error's RetryInfo).</summary>
    public bool RetryAfterHeader { get; init; }

    /// <summary>Each call waits until this many calls for its prompt have arrived, at most <see cref="Delay"/>, then answers.</summary>
    public int HoldUntilCalls { get; init; }
}

/// <summary>
/// One generateContent request as the fake received it: <see cref="LastUserText"/>, the last text of a user's content;
/// <see cref="GenerationConfig"/>, <see cref="Tools"/>, <see cref="ToolConfig"/> and <see cref="Contents"/>: its
/// <c>generationConfig</c>, <c>tools</c>, <c>toolConfig</c> and <c>contents</c> as sent, if any.
/// </summary>
public sealed record GeminiCall(string Model, IReadOnlyList<string> Roles, string LastUserText, IReadOnlyList<string> ImageTypes, string? SystemInstruction,
    JsonObject? GenerationConfig = null, JsonNode? Tools = null, JsonNode? ToolConfig = null, JsonArray? Contents = null)
{
    /// <summary>The <c>functionCall</c> objects of the contents, in order.</summary>
    public IReadOnlyList<JsonNode> FunctionCalls => Parts("functionCall");

    /// <summary>The <c>functionResponse</c> objects of the contents, in order.</summary>
    public IReadOnlyList<JsonNode> FunctionResponses => Parts("functionResponse");

    private List<JsonNode> Parts(string kind) =>
        (Contents ?? []).SelectMany(c => c!["parts"]!.AsArray()).Select(p => p![kind]).OfType<JsonNode>().ToList();
}
