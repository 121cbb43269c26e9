using System.Text.Json;
using System.Text.Json.Serialization;

namespace Opossum.Gateway.OpenAI;

// OpenAI's Chat Completions wire format (https://platform.openai.com/docs/api-reference/chat). Fields the door does not
// read are left out of the request: System.Text.Json skips them, as OpenAI's API ignores extras many clients send.

/// <summary>
/// A <c>POST /v1/chat/completions</c> body; what may take several shapes (content, stop, tools, tool_choice, response_format) is read
/// as JSON and checked by <see cref="OpenAIRequests"/> and <see cref="OpenAITools"/>.
/// </summary>
public sealed class ChatCompletionRequest
{
    [JsonPropertyName("model")] public string? Model { get; init; }
    [JsonPropertyName("messages")] public List<RequestMessage>? Messages { get; init; }
    [JsonPropertyName("stream")] public bool? Stream { get; init; }
    [JsonPropertyName("stream_options")] public StreamOptions? StreamOptions { get; init; }
    [JsonPropertyName("temperature")] public double? Temperature { get; init; }
    [JsonPropertyName("top_p")] public double? TopP { get; init; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; init; }
    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; init; }
    [JsonPropertyName("stop")] public JsonElement? Stop { get; init; }
    [JsonPropertyName("seed")] public long? Seed { get; init; }
    [JsonPropertyName("n")] public int? N { get; init; }
    [JsonPropertyName("tools")] public JsonElement? Tools { get; init; }
    [JsonPropertyName("tool_choice")] public JsonElement? ToolChoice { get; init; }
    [JsonPropertyName("parallel_tool_calls")] public bool? ParallelToolCalls { get; init; }
    [JsonPropertyName("functions")] public JsonElement? Functions { get; init; }
    [JsonPropertyName("function_call")] public JsonElement? FunctionCall { get; init; }
    [JsonPropertyName("response_format")] public JsonElement? ResponseFormat { get; init; }
}

public sealed class StreamOptions
{
    [JsonPropertyName("include_usage")] public bool? IncludeUsage { get; init; }
}

/// <summary>
/// One of <c>messages</c>: its content a string or a list of parts (<c>text</c>, <c>image_url</c>); an assistant's may carry
/// <c>tool_calls</c>, and a <c>tool</c> message answers the call <c>tool_call_id</c>.
/// </summary>
public sealed class RequestMessage
{
    [JsonPropertyName("role")] public string? Role { get; init; }
    [JsonPropertyName("content")] public JsonElement? Content { get; init; }
    [JsonPropertyName("tool_calls")] public JsonElement? ToolCalls { get; init; }
    [JsonPropertyName("tool_call_id")] public string? ToolCallId { get; init; }
}

/// <summary>A <c>chat.completion</c> object: the whole answer.</summary>
public sealed record ChatCompletion(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("choices")] IReadOnlyList<CompletionChoice> Choices,
    [property: JsonPropertyName("usage")] CompletionUsage Usage)
{
    [JsonPropertyName("object"), JsonPropertyOrder(-1)] public string Object => "chat.completion";
}

public sealed record CompletionChoice(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("message")] AssistantMessage Message,
    [property: JsonPropertyName("finish_reason")] string FinishReason)
{
    [JsonPropertyName("logprobs")] public string? Logprobs => null;
}

/// <summary>The answer: its text, null when the model only called tools, and the calls it made.</summary>
public sealed record AssistantMessage(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("content")] string? Content,
    [property: JsonPropertyName("tool_calls"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<MessageToolCall>? ToolCalls = null)
{
    [JsonPropertyName("refusal")] public string? Refusal => null;
}

/// <summary>A call the model made: <see cref="FunctionCall.Arguments"/> is the JSON object as text.</summary>
public sealed record MessageToolCall(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("function"), JsonPropertyOrder(2)] FunctionCall Function)
{
    [JsonPropertyName("type"), JsonPropertyOrder(1)] public string Type => "function";
}

public sealed record FunctionCall(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("arguments")] string Arguments);

public sealed record CompletionUsage(
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("completion_tokens")] int CompletionTokens,
    [property: JsonPropertyName("total_tokens")] int TotalTokens);

/// <summary>A <c>chat.completion.chunk</c> object: one event of a streamed answer. <see cref="Usage"/> only on the usage chunk (its <c>choices</c> empty).</summary>
public sealed record ChatCompletionChunk(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("choices")] IReadOnlyList<ChunkChoice> Choices,
    [property: JsonPropertyName("usage"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CompletionUsage? Usage = null)
{
    [JsonPropertyName("object"), JsonPropertyOrder(-1)] public string Object => "chat.completion.chunk";
}

public sealed record ChunkChoice(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("delta")] ChunkDelta Delta,
    [property: JsonPropertyName("finish_reason")] string? FinishReason)
{
    [JsonPropertyName("logprobs")] public string? Logprobs => null;
}

/// <summary>What a chunk adds: the role in the first one, text or a fragment of a tool call in the next ones, nothing in the last.</summary>
public sealed record ChunkDelta(
    [property: JsonPropertyName("role"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonPropertyName("content"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null,
    [property: JsonPropertyName("tool_calls"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<ToolCallFragment>? ToolCalls = null);

/// <summary>
/// A piece of a streamed tool call, which clients join by <see cref="Index"/>: the first piece of a call has its id, type and
/// the function's name, the next ones pieces of the arguments.
/// </summary>
public sealed record ToolCallFragment(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    [property: JsonPropertyName("function"), JsonPropertyOrder(2)] FunctionFragment Function)
{
    [JsonPropertyName("type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonPropertyOrder(1)]
    public string? Type => Id is null ? null : "function";
}

public sealed record FunctionFragment(
    [property: JsonPropertyName("name"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name,
    [property: JsonPropertyName("arguments")] string Arguments);

/// <summary>The <c>{"error": {...}}</c> body of a refusal or failure, and the data of the event that ends a cut stream.</summary>
public sealed record ErrorResponse([property: JsonPropertyName("error")] ErrorDetail Error);

public sealed record ErrorDetail(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);

/// <summary>A <c>GET /v1/models</c> answer.</summary>
public sealed record ModelList([property: JsonPropertyName("data")] IReadOnlyList<ModelObject> Data)
{
    [JsonPropertyName("object"), JsonPropertyOrder(-1)] public string Object => "list";
}

/// <summary>A model of the catalog; <see cref="Created"/> is when the gateway started, as the catalog has no dates.</summary>
public sealed record ModelObject(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy)
{
    [JsonPropertyName("object"), JsonPropertyOrder(1)] public string Object => "model";
}

[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelObject))]
internal sealed partial class OpenAIJsonContext : JsonSerializerContext;
