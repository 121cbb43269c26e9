using System.Buffers;
using System.Text;
using System.Text.Json;
using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.OpenAI;

/// <summary>A chat completion request the door understood: the stateless chat and how to answer it.</summary>
public sealed record OpenAIChat(StatelessChat Chat, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads a Chat Completions request into a <see cref="StatelessChat"/>: roles, content parts and images, the sampling
/// parameters under OpenAI's names. What the gateway cannot do yet (tools, structured output, several choices) is refused,
/// naming the parameter, rather than quietly answered without it. Sizes, the model and the last message are the pipeline's to check.
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
        NotYet(request.Tools is { ValueKind: not JsonValueKind.Null } tools && !(tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() == 0), "tools");
        NotYet(request.ToolChoice is { ValueKind: not JsonValueKind.Null } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto"), "tool_choice");
        NotYet(request.Functions is { ValueKind: not JsonValueKind.Null }, "functions");
        NotYet(request.FunctionCall is { ValueKind: not JsonValueKind.Null }, "function_call");
        NotYet(request.ResponseFormat is { ValueKind: not JsonValueKind.Null } format && !IsTextFormat(format), "response_format");

        var names = request.MaxCompletionTokens is null ? Names : CompletionTokenNames;
        var options = Sampling.Options(request.Temperature, request.TopP, request.MaxCompletionTokens ?? request.MaxTokens, Stop(request.Stop), request.Seed, names);
        var chat = new StatelessChat(messages.Select(Message).ToList(), request.Model, options, noCache);
        var stream = request.Stream ?? false;
        return new OpenAIChat(chat, stream, stream && request.StreamOptions?.IncludeUsage == true);
    }

    private static ChatMessage Message(RequestMessage message, int index)
    {
        var param = $"messages[{index}]";
        var role = message.Role switch
        {
            "system" or "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" or "function" => throw NotSupportedYet($"{param}.role", $"'{message.Role}' messages"),
            null => throw OpossumException.BadInput($"{param}.role is required.", $"{param}.role"),
            var other => throw OpossumException.BadInput($"{param}.role must be system, developer, user or assistant, not '{other}'.", $"{param}.role"),
        };
        NotYet(message.ToolCalls is { ValueKind: JsonValueKind.Array } calls && calls.GetArrayLength() > 0, $"{param}.tool_calls");
        var content = message.Content ?? default;
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return new ChatMessage(role, content.GetString()!);
            case JsonValueKind.Undefined or JsonValueKind.Null when role == "assistant":
                return new ChatMessage(role, "");
            case JsonValueKind.Array:
                return Parts(role, content, $"{param}.content");
            default:
                throw OpossumException.BadInput($"{param}.content must be a string or a list of content parts.", $"{param}.content");
        }
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

    private static bool IsTextFormat(JsonElement format) =>
        format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text";

    private static void NotYet(bool sent, string param)
    {
        if (sent)
            throw NotSupportedYet(param, param);
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
