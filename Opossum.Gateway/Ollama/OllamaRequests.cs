using System.Text.Json;
using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.Ollama;

/// <summary>
/// Reads Ollama's <c>/api/chat</c> and <c>/api/generate</c> bodies into the one pipeline's <see cref="StatelessChat"/>:
/// what the protocol allows and the gateway does not do yet is refused here, naming the field, before anything runs.
/// </summary>
public static class OllamaRequests
{
    /// <summary>The sampling parameters as Ollama names them, so a value out of range is refused naming what the client sent.</summary>
    public static readonly Sampling.Names Names = new("options.temperature", "options.top_p", "options.num_predict", "options.stop", "options.seed");

    /// <summary>A chat of <c>/api/chat</c>; null when it has no messages (Ollama's "load the model" request).</summary>
    public static StatelessChat? Chat(OllamaChatRequest request, bool noCache)
    {
        var model = Model(request.Model);
        Unsupported(request.Format, "format");
        Unsupported(request.Tools, "tools");
        if (request.Messages is not { Count: > 0 } messages)
            return null;
        var chat = new List<ChatMessage>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
            chat.Add(Message(messages[i], $"messages[{i}]"));
        return new StatelessChat(chat, model, Options(request.Options), noCache);
    }

    /// <summary>A prompt of <c>/api/generate</c> as a chat of one user message (after <c>system</c>); null when the prompt is empty (a load request).</summary>
    public static StatelessChat? Generate(OllamaGenerateRequest request, bool noCache)
    {
        var model = Model(request.Model);
        Unsupported(request.Format, "format");
        // Filling in between a prompt and a suffix takes a code model's own template; the gateway sends chats.
        if (!string.IsNullOrEmpty(request.Suffix))
            throw OpossumException.BadInput("suffix is not supported: the gateway answers prompts as chats, without fill-in-the-middle.", "suffix");
        if (string.IsNullOrEmpty(request.Prompt) && request.Images is not { Count: > 0 })
            return null;
        var chat = new List<ChatMessage>(2);
        if (!string.IsNullOrEmpty(request.System))
            chat.Add(new ChatMessage("system", request.System));
        chat.Add(new ChatMessage("user", request.Prompt ?? "", Image(request.Images, "images")));
        return new StatelessChat(chat, model, Options(request.Options), noCache);
    }

    private static string Model(string? model) =>
        string.IsNullOrWhiteSpace(model) ? throw OpossumException.BadInput("model is required", "model") : model;

    private static ChatMessage Message(OllamaMessage message, string at)
    {
        var role = message.Role switch
        {
            "system" or "user" or "assistant" => message.Role,
            "tool" => throw NotYet($"{at}.role 'tool'"),
            null => throw OpossumException.BadInput($"{at}.role is required: system, user or assistant.", $"{at}.role"),
            _ => throw OpossumException.BadInput($"{at}.role must be system, user or assistant, not '{message.Role}'.", $"{at}.role"),
        };
        if (message.ToolCalls is { ValueKind: JsonValueKind.Array } calls && calls.GetArrayLength() > 0)
            throw NotYet($"{at}.tool_calls");
        return new ChatMessage(role, message.Content ?? "", Image(message.Images, $"{at}.images"));
    }

    private static ImageAttachment? Image(List<string>? images, string param)
    {
        if (images is not { Count: > 0 })
            return null;
        if (images.Count > 1)
            throw OpossumException.BadInput($"{param} may hold one image, not {images.Count}.", param);
        return ImageInput.Parse(images[0], param);
    }

    private static GenerationOptions? Options(OllamaOptions? options)
    {
        if (options is null)
            return null;
        // Ollama's num_predict -1 (no limit) and -2 (fill the context) leave the length to the model, as no value does.
        var maxTokens = options.NumPredict is -1 or -2 ? null : options.NumPredict;
        return Sampling.Options(options.Temperature, options.TopP, maxTokens, options.Stop, options.Seed, Names);
    }

    // format (JSON mode, schemas) and tools come with a later release; an empty value asks for nothing.
    private static void Unsupported(JsonElement? value, string param)
    {
        if (value is not { } given || given.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined
            || given.ValueKind == JsonValueKind.String && given.GetString() is "" || given.ValueKind == JsonValueKind.Array && given.GetArrayLength() == 0)
            return;
        throw NotYet(param);
    }

    private static OpossumException NotYet(string param) =>
        OpossumException.BadInput($"{param} is not supported yet by this gateway.", param.Split(' ')[0]);
}
