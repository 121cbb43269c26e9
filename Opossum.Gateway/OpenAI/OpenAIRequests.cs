using System.Buffers;
using System.Text;
using System.Text.Json;
using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.OpenAI;

/// <summary>A chat completion request the door understood: the stateless chat and how to answer it.</summary>
public sealed record OpenAIChat(StatelessChat Chat, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads a Chat Completions request into a <see cref="StatelessChat"/>: roles, content parts and images, tool calls and results,
/// the sampling parameters under OpenAI's names, tools and the answer's format (<see cref="OpenAITools"/>). What the gateway
/// cannot do (several choices, other content parts) is refused, naming the parameter, rather than quietly answered without it. Sizes, the model and the last message are the pipeline's to check.
/// </summary>
public static class OpenAIRequests
{
    public static readonly Sampling.Names Names = new("temperature", "top_p", "max_tokens", "stop", "seed");

    private static readonly Sampling.Names CompletionTokenNames = Names with { MaxTokens = "max_completion_tokens" };

    /// <summary>The request in <paramref name="json"/>; a body that is not JSON or has a field of the wrong type is refused with the field named.</summary>
    public static OpenAIChat Read(ReadOnlySequence<byte> json, bool noCache)
    {
        ChatCompletionRequest? request;
        try
        {
            var reader = new Utf8JsonReader(json);
            request = JsonSerializer.Deserialize(ref reader, OpenAIJsonContext.Default.ChatCompletionRequest);
        }
        catch (JsonException ex)
        {
            var param = ParamOf(ex.Path);
            throw OpossumException.BadInput(param is null
                ? "The request body is not valid JSON."
                : $"The request body is not valid JSON, or '{param}' has the wrong type.", param);
        }
        return Read(request ?? throw OpossumException.BadInput("The request body must be a JSON object."), noCache);
    }

    public static OpenAIChat Read(ChatCompletionRequest request, bool noCache)
    {
        if (string.IsNullOrEmpty(request.Model))
            throw OpossumException.BadInput("model is required: one of GET /v1/models.", "model");
        if (request.Messages is not { Count: > 0 } messages)
            throw OpossumException.BadInput("messages is required and must not be empty.", "messages");
        if (request.N is { } n && n != 1)
            throw OpossumException.BadInput($"n must be 1: the gateway answers with one choice, not {n}.", "n");
        Legacy(request.Functions, "functions");
        Legacy(request.FunctionCall, "function_call");

        var tools = OpenAITools.Tools(request.Tools);
        var choice = OpenAITools.Choice(request.ToolChoice, tools);
        var format = OpenAITools.Format(request.ResponseFormat);
        var names = request.MaxCompletionTokens is null ? Names : CompletionTokenNames;
        var sampling = Sampling.Options(request.Temperature, request.TopP, request.MaxCompletionTokens ?? request.MaxTokens, Stop(request.Stop), request.Seed, names);
        // parallel_tool_calls says nothing without tools: dropped then, so it neither changes the cache key nor asks for tools.
        var options = (sampling ?? new GenerationOptions()) with
        {
            Tools = tools, ToolChoice = choice, ParallelToolCalls = tools is null ? null : request.ParallelToolCalls, Format = format,
        };
        var chat = new StatelessChat(Messages(messages), request.Model, options.IsEmpty ? null : options, noCache);
        var stream = request.Stream ?? false;
        return new OpenAIChat(chat, stream, stream && request.StreamOptions?.IncludeUsage == true);
    }

    // A tool's result names its call by id only; the function's name, which Gemini needs, comes from the assistant message that made the call.
    private static List<ChatMessage> Messages(List<RequestMessage> messages)
    {
        var calls = new Dictionary<string, string>(StringComparer.Ordinal);
        var read = new List<ChatMessage>(messages.Count);
        for (var index = 0; index < messages.Count; index++)
        {
            var message = Message(messages[index], index, calls);
            foreach (var call in message.ToolCalls ?? [])
                calls[call.Id] = call.Name;
            read.Add(message);
        }
        return read;
    }

    private static ChatMessage Message(RequestMessage message, int index, Dictionary<string, string> calls)
    {
        var param = $"messages[{index}]";
        var role = message.Role switch
        {
            "system" or "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" => "tool",
            "function" => throw OpossumException.BadInput($"{param}.role: 'function' messages are OpenAI's deprecated form; send 'tool' messages with tool_call_id.", $"{param}.role"),
            null => throw OpossumException.BadInput($"{param}.role is required.", $"{param}.role"),
            var other => throw OpossumException.BadInput($"{param}.role must be system, developer, user, assistant or tool, not '{other}'.", $"{param}.role"),
        };
        List<ToolCall>? made = null;
        if (message.ToolCalls is { ValueKind: not JsonValueKind.Null } toolCalls)
            made = role == "assistant"
                ? OpenAITools.Calls(toolCalls, $"{param}.tool_calls")
                : throw OpossumException.BadInput($"{param}.tool_calls: only assistant messages carry tool calls.", $"{param}.tool_calls");
        var content = message.Content ?? default;
        var read = content.ValueKind switch
        {
            JsonValueKind.String => new ChatMessage(role, content.GetString()!),
            JsonValueKind.Undefined or JsonValueKind.Null when role == "assistant" => new ChatMessage(role, ""),
            JsonValueKind.Array => Parts(role, content, $"{param}.content"),
            _ => throw OpossumException.BadInput($"{param}.content must be a string or a list of content parts.", $"{param}.content"),
        };
        if (role != "tool")
            return made is { Count: > 0 } ? read with { ToolCalls = made } : read;
        if (string.IsNullOrEmpty(message.ToolCallId))
            throw OpossumException.BadInput($"{param}.tool_call_id is required: the id of the call this message answers.", $"{param}.tool_call_id");
        if (!calls.TryGetValue(message.ToolCallId, out var name))
            throw OpossumException.BadInput($"{param}.tool_call_id '{message.ToolCallId}' is not the id of a tool call in an earlier assistant message.", $"{param}.tool_call_id");
        return read with { ToolCallId = message.ToolCallId, ToolName = name };
    }

    // Text parts are joined into one text; an image part carries a data: URL, decoded and checked like every door's image.
    private static ChatMessage Parts(string role, JsonElement parts, string param)
    {
        var text = new StringBuilder();
        ImageAttachment? image = null;
        var index = 0;
        foreach (var part in parts.EnumerateArray())
        {
            var at = $"{param}[{index++}]";
            var type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "text" when part.TryGetProperty("text", out var value) && value.ValueKind == JsonValueKind.String:
                    if (text.Length > 0) text.Append('\n');
                    text.Append(value.GetString());
                    break;
                case "image_url" when role != "user":
                    throw OpossumException.BadInput($"{at}: only user messages may carry images.", at);
                case "image_url" when image is not null:
                    throw OpossumException.BadInput($"{at}: a message may carry one image.", at);
                case "image_url":
                    image = Image(part, $"{at}.image_url");
                    break;
                case "text":
                    throw OpossumException.BadInput($"{at}.text must be a string.", $"{at}.text");
                case null:
                    throw OpossumException.BadInput($"{at} must be an object with a type.", $"{at}.type");
                default:
                    throw NotSupportedYet($"{at}.type", $"Content parts of type '{type}'");
            }
        }
        return new ChatMessage(role, text.ToString(), image);
    }

    private static ImageAttachment Image(JsonElement part, string param)
    {
        if (!part.TryGetProperty("image_url", out var image) || image.ValueKind != JsonValueKind.Object
            || !image.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String)
            throw OpossumException.BadInput($"{param}.url is required.", $"{param}.url");
        var value = url.GetString()!;
        if (!value.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw OpossumException.BadInput(
                $"{param}: the gateway does not fetch images from URLs; send the image inline as a data: URL (data:image/png;base64,...).", param);
        return ImageInput.Parse(value, param);
    }

    private static List<string>? Stop(JsonElement? stop)
    {
        switch (stop?.ValueKind)
        {
            case null or JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return [stop.Value.GetString()!];
            case JsonValueKind.Array when stop.Value.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String):
                return stop.Value.EnumerateArray().Select(s => s.GetString()!).ToList();
            default:
                throw OpossumException.BadInput("stop must be a string or a list of strings.", "stop");
        }
    }

    private static void Legacy(JsonElement? sent, string param)
    {
        if (sent is { ValueKind: not JsonValueKind.Null })
            throw OpossumException.BadInput($"{param} is OpenAI's deprecated form of tools: send tools and tool_choice instead.", param);
    }

    private static OpossumException NotSupportedYet(string param, string what) =>
        OpossumException.BadInput($"{what}: not supported yet by this gateway.", param);

    // System.Text.Json names the field as "$.messages[0].content" or "$['stop']"; OpenAI's param is "messages[0].content".
    private static string? ParamOf(string? path)
    {
        if (path is null or "$") return null;
        var param = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return param.Length == 0 ? null : param;
    }
}
