using System.Text.Json;
using System.Text.Json.Serialization;

namespace Opossum.Gateway.Ollama;

// Ollama's REST API as its docs/api.md describes it: what the door reads and writes, field for field.
// Fields the door does not use are not declared and so ignored, as Ollama ignores what it does not know.

/// <summary>The sampling <c>options</c> the door takes; Ollama's others (<c>top_k</c>, <c>num_ctx</c>, …) are ignored.</summary>
public sealed record OllamaOptions(double? Temperature, double? TopP, int? NumPredict, List<string>? Stop, long? Seed);

/// <summary>
/// A message of <c>POST /api/chat</c>: <c>images</c> are base64; an assistant's carries the <c>tool_calls</c> it made, a tool's
/// (role <c>tool</c>) the function's name (<c>tool_name</c>) and, from newer clients, the call's id (<c>tool_call_id</c>).
/// </summary>
public sealed record OllamaMessage(string? Role, string? Content, List<string>? Images, List<OllamaToolCall>? ToolCalls, string? ToolName, string? ToolCallId);

/// <summary>A function the model may call: <c>{"type": "function", "function": {name, description, parameters}}</c>.</summary>
public sealed record OllamaTool(string? Type, OllamaFunction? Function);

/// <summary>A function of <c>tools</c>; <c>parameters</c> is a JSON Schema.</summary>
public sealed record OllamaFunction(string? Name, string? Description, JsonElement? Parameters);

/// <summary>A call the model made, in a message of an answer or of a client's history; <c>arguments</c> is an object.</summary>
public sealed record OllamaToolCall(string? Id, OllamaToolCallFunction? Function);

/// <summary>The function a call is to: its position among the answer's calls (<c>index</c>), name and arguments.</summary>
public sealed record OllamaToolCallFunction(int? Index, string? Name, JsonElement? Arguments);

/// <summary>The body of <c>POST /api/chat</c>.</summary>
public sealed record OllamaChatRequest(
    string? Model,
    List<OllamaMessage>? Messages,
    bool? Stream,
    OllamaOptions? Options,
    JsonElement? Format,
    List<OllamaTool>? Tools);

/// <summary>The body of <c>POST /api/generate</c>; <c>raw</c>, <c>template</c>, <c>context</c> and <c>keep_alive</c> are ignored.</summary>
public sealed record OllamaGenerateRequest(
    string? Model,
    string? Prompt,
    string? Suffix,
    string? System,
    List<string>? Images,
    bool? Stream,
    OllamaOptions? Options,
    JsonElement? Format);

/// <summary>The body of <c>POST /api/show</c>; older clients send <c>name</c>.</summary>
public sealed record OllamaShowRequest(string? Model, string? Name);

/// <summary>A message of an answer, with the calls the model made (none: the field is left out).</summary>
public sealed record OllamaReplyMessage(string Role, string Content, List<OllamaToolCall>? ToolCalls = null);

/// <summary>
/// One line of a streamed <c>/api/chat</c> or <c>/api/generate</c> answer, or the whole answer: <see cref="Message"/> for chat,
/// <see cref="Response"/> for generate; the counts and durations (nanoseconds) only on the last, <c>done: true</c>.
/// </summary>
public sealed record OllamaReply(
    string Model,
    string CreatedAt,
    OllamaReplyMessage? Message,
    string? Response,
    bool Done,
    string? DoneReason = null,
    long? TotalDuration = null,
    long? LoadDuration = null,
    int? PromptEvalCount = null,
    long? PromptEvalDuration = null,
    int? EvalCount = null,
    long? EvalDuration = null);

/// <summary>How Ollama reports a failure: the body of an error status, or the last line of a stream that failed.</summary>
public sealed record OllamaError(string Error);

/// <summary>What Ollama says about a model's files; the gateway's models are another server's, so only the family (the backend) is known.</summary>
public sealed record OllamaModelDetails(string ParentModel, string Format, string Family, List<string>? Families, string ParameterSize, string QuantizationLevel);

/// <summary>A model of <c>GET /api/tags</c>.</summary>
public sealed record OllamaModel(string Name, string Model, string ModifiedAt, long Size, string Digest, OllamaModelDetails Details);

/// <summary>The answer of <c>GET /api/tags</c>.</summary>
public sealed record OllamaModels(List<OllamaModel> Models);

/// <summary>A model of <c>GET /api/ps</c>.</summary>
public sealed record OllamaRunningModel(string Name, string Model, long Size, string Digest, OllamaModelDetails Details, string ExpiresAt, long SizeVram);

/// <summary>The answer of <c>GET /api/ps</c>.</summary>
public sealed record OllamaRunningModels(List<OllamaRunningModel> Models);

/// <summary>The answer of <c>GET /api/version</c>.</summary>
public sealed record OllamaVersion(string Version);

/// <summary>The answer of <c>POST /api/show</c>.</summary>
public sealed record OllamaShowResponse(
    string Modelfile,
    string Parameters,
    string Template,
    OllamaModelDetails Details,
    Dictionary<string, string> ModelInfo,
    List<string> Capabilities,
    string ModifiedAt);

/// <summary>Ollama's field names (snake_case); absent values are left out, as Ollama leaves them out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(OllamaChatRequest))]
[JsonSerializable(typeof(OllamaGenerateRequest))]
[JsonSerializable(typeof(OllamaShowRequest))]
[JsonSerializable(typeof(OllamaReply))]
[JsonSerializable(typeof(OllamaError))]
[JsonSerializable(typeof(OllamaModels))]
[JsonSerializable(typeof(OllamaRunningModels))]
[JsonSerializable(typeof(OllamaVersion))]
[JsonSerializable(typeof(OllamaShowResponse))]
public sealed partial class OllamaJson : JsonSerializerContext;
