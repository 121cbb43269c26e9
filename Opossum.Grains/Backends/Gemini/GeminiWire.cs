using System.Text.Json.Serialization;

namespace Opossum.Grains.Backends.Gemini;

// Gemini generateContent wire format: https://ai.google.dev/api/generate-content; streamed with alt=sse, each event is one GeminiResponse
internal sealed record GeminiRequest(
    [property: JsonPropertyName("contents")] IReadOnlyList<GeminiContent> Contents,
    [property: JsonPropertyName("systemInstruction"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiContent? SystemInstruction,
    [property: JsonPropertyName("generationConfig"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiGenerationConfig? GenerationConfig = null);

// https://ai.google.dev/api/generate-content#generationconfig: an unset field is the model's default.
internal sealed record GeminiGenerationConfig(
    [property: JsonPropertyName("temperature"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Temperature,
    [property: JsonPropertyName("topP"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TopP,
    [property: JsonPropertyName("maxOutputTokens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaxOutputTokens,
    [property: JsonPropertyName("stopSequences"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? StopSequences,
    [property: JsonPropertyName("seed"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Seed);

internal sealed record GeminiContent(
    [property: JsonPropertyName("role"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonPropertyName("parts")] IReadOnlyList<GeminiPart>? Parts);

internal sealed record GeminiPart(
    [property: JsonPropertyName("text"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null,
    [property: JsonPropertyName("inline_data"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiInlineData? InlineData = null);

internal sealed record GeminiInlineData(
    [property: JsonPropertyName("mime_type")] string MimeType,
    [property: JsonPropertyName("data")] string Data);

internal sealed record GeminiResponse(
    [property: JsonPropertyName("candidates")] IReadOnlyList<GeminiCandidate>? Candidates,
    [property: JsonPropertyName("usageMetadata")] GeminiUsage? UsageMetadata,
    [property: JsonPropertyName("promptFeedback")] GeminiPromptFeedback? PromptFeedback,
    [property: JsonPropertyName("error")] GeminiError? Error = null);

internal sealed record GeminiCandidate(
    [property: JsonPropertyName("content")] GeminiContent? Content,
    [property: JsonPropertyName("finishReason")] string? FinishReason);

internal sealed record GeminiUsage(
    [property: JsonPropertyName("promptTokenCount")] int? PromptTokenCount,
    [property: JsonPropertyName("candidatesTokenCount")] int? CandidatesTokenCount);

internal sealed record GeminiPromptFeedback([property: JsonPropertyName("blockReason")] string? BlockReason);

internal sealed record GeminiErrorBody([property: JsonPropertyName("error")] GeminiError? Error);

internal sealed record GeminiError(
    [property: JsonPropertyName("code")] int? Code,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("status")] string? Status,
    [property: JsonPropertyName("details")] IReadOnlyList<GeminiErrorDetail>? Details = null);

// google.rpc.RetryInfo in a 429's details says how long to wait: {"@type": "...RetryInfo", "retryDelay": "37s"}.
internal sealed record GeminiErrorDetail(
    [property: JsonPropertyName("@type")] string? Type,
    [property: JsonPropertyName("retryDelay")] string? RetryDelay);

[JsonSerializable(typeof(GeminiRequest))]
[JsonSerializable(typeof(GeminiResponse))]
[JsonSerializable(typeof(GeminiErrorBody))]
internal sealed partial class GeminiJsonContext : JsonSerializerContext;
