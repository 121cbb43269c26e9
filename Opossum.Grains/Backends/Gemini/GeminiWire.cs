using System.Text.Json;
using System.Text.Json.Serialization;

namespace Opossum.Grains.Backends.Gemini;

// Gemini generateContent wire format: https://ai.google.dev/api/generate-content; streamed with alt=sse, each event is one GeminiResponse
internal sealed record GeminiRequest(
    [property: JsonPropertyName("contents")] IReadOnlyList<GeminiContent> Contents,
    [property: JsonPropertyName("systemInstruction"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiContent? SystemInstruction,
    [property: JsonPropertyName("generationConfig"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiGenerationConfig? GenerationConfig = null,
    [property: JsonPropertyName("tools"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<GeminiTool>? Tools = null,
    [property: JsonPropertyName("toolConfig"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiToolConfig? ToolConfig = null);

// https://ai.google.dev/api/caching#Tool: functions whose parameters are JSON Schema as-is (parametersJsonSchema).
internal sealed record GeminiTool([property: JsonPropertyName("functionDeclarations")] IReadOnlyList<GeminiFunctionDeclaration> FunctionDeclarations);

internal sealed record GeminiFunctionDeclaration(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("description"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description,
    [property: JsonPropertyName("parametersJsonSchema")] JsonElement ParametersJsonSchema);

// https://ai.google.dev/api/caching#FunctionCallingConfig: mode AUTO, ANY (must call; only allowedFunctionNames if given) or NONE.
internal sealed record GeminiToolConfig([property: JsonPropertyName("functionCallingConfig")] GeminiFunctionCallingConfig FunctionCallingConfig);

internal sealed record GeminiFunctionCallingConfig(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("allowedFunctionNames"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? AllowedFunctionNames = null);

// https://ai.google.dev/api/generate-content#generationconfig: an unset field is the model's default.
internal sealed record GeminiGenerationConfig(
    [property: JsonPropertyName("temperature"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Temperature,
    [property: JsonPropertyName("topP"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TopP,
    [property: JsonPropertyName("maxOutputTokens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaxOutputTokens,
    [property: JsonPropertyName("stopSequences"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? StopSequences,
    [property: JsonPropertyName("seed"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Seed,
    [property: JsonPropertyName("responseMimeType"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ResponseMimeType = null,
    [property: JsonPropertyName("responseJsonSchema"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? ResponseJsonSchema = null);

internal sealed record GeminiContent(
    [property: JsonPropertyName("role"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonPropertyName("parts")] IReadOnlyList<GeminiPart>? Parts);

internal sealed record GeminiPart(
    [property: JsonPropertyName("text"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null,
    [property: JsonPropertyName("inline_data"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiInlineData? InlineData = null,
    [property: JsonPropertyName("functionCall"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiFunctionCall? FunctionCall = null,
    [property: JsonPropertyName("functionResponse"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] GeminiFunctionResponse? FunctionResponse = null);

// A call the model made: args is an object; id only when Gemini gives one.
internal sealed record GeminiFunctionCall(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("args"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Args,
    [property: JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id = null);

// A function's result: response must be a JSON object.
internal sealed record GeminiFunctionResponse(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("response")] JsonElement Response,
    [property: JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id = null);

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
