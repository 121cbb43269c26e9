using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.Ollama;

/// <summary>
/// Reads Ollama's <c>/api/chat</c> and <c>/api/generate</c> bodies into the one pipeline's <see cref="StatelessChat"/>:
/// what the gateway does not do, or that cannot be right, is refused here, naming the field, before anything runs.
/// </summary>
public static class OllamaRequests
{
    /// <summary>The sampling parameters as Ollama names them, so a value out of range is refused naming what the client sent.</summary>
    public static readonly Sampling.Names Names = new("options.temperature", "options.top_p", "options.num_predict", "options.stop", "options.seed");

    /// <summary>A chat of <c>/api/chat</c>; null when it has no messages (Ollama's "load the model" request).</summary>
    public static StatelessChat? Chat(OllamaChatRequest request, bool noCache)
    {
        var model = Model(request.Model);
        var format = OllamaTools.Format(request.Format);
        var tools = OllamaTools.Definitions(request.Tools);
        if (request.Messages is not { Count: > 0 } messages)
            return null;
        return new StatelessChat(Messages(messages), model, Options(request.Options, tools, format), noCache);
    }

    /// <summary>A prompt of <c>/api/generate</c> as a chat of one user message (after <c>system</c>); null when the prompt is empty (a load request).</summary>
    public static StatelessChat? Generate(OllamaGenerateRequest request, bool noCache)
    {
        var model = Model(request.Model);
        var format = OllamaTools.Format(request.Format);
        // Filling in between a prompt and a suffix takes a code model's own template; the gateway sends chats.
        if (!string.IsNullOrEmpty(request.Suffix))
            throw OpossumException.BadInput("suffix is not supported: the gateway answers prompts as chats, without fill-in-the-middle.", "suffix");
        if (string.IsNullOrEmpty(request.Prompt) && request.Images is not { Count: > 0 })
            return null;
        var chat = new List<ChatMessage>(2);
        if (!string.IsNullOrEmpty(request.System))
            chat.Add(new ChatMessage("system", request.System));
        chat.Add(new ChatMessage("user", request.Prompt ?? "", Image(request.Images, "images")));
        return new StatelessChat(chat, model, Options(request.Options, null, format), noCache);
    }

    private static string Model(string? model) =>
        string.IsNullOrWhiteSpace(model) ? throw OpossumException.BadInput("model is required", "model") : model;

    /// <summary>
    /// The messages, a tool's result tied to the call of the assistant message before it that it answers: the one with its
    /// <c>tool_call_id</c>, else the first not yet answered call of its <c>tool_name</c>, else (no name either) the n-th call for the n-th result.
    /// </summary>
    private static List<ChatMessage> Messages(List<OllamaMessage> messages)
    {
        var chat = new List<ChatMessage>(messages.Count);
        IReadOnlyList<ToolCall> calls = [];
        var answered = new HashSet<string>(StringComparer.Ordinal);
        var results = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            var at = $"messages[{i}]";
            var message = messages[i] ?? throw OpossumException.BadInput($"{at} must be an object.", at);
            var image = Image(message.Images, $"{at}.images");
            switch (message.Role)
            {
                case "system" or "user":
                    chat.Add(new ChatMessage(message.Role, message.Content ?? "", image));
                    break;
                case "assistant":
                    var made = OllamaTools.Calls(message.ToolCalls, i, at);
                    (calls, results) = (made ?? [], 0);
                    answered.Clear();
                    chat.Add(new ChatMessage("assistant", message.Content ?? "", image, made));
                    break;
                case "tool":
                    var call = Answered(message, calls, answered, results++, at);
                    answered.Add(call.Id);
                    chat.Add(new ChatMessage("tool", message.Content ?? "", image, ToolCallId: call.Id, ToolName: call.Name));
                    break;
                case null:
                    throw OpossumException.BadInput($"{at}.role is required: system, user, assistant or tool.", $"{at}.role");
                default:
                    throw OpossumException.BadInput($"{at}.role must be system, user, assistant or tool, not '{message.Role}'.", $"{at}.role");
            }
        }
        return chat;
    }

    private static ToolCall Answered(OllamaMessage message, IReadOnlyList<ToolCall> calls, HashSet<string> answered, int result, string at)
    {
        if (!string.IsNullOrEmpty(message.ToolCallId))
            return calls.FirstOrDefault(c => c.Id == message.ToolCallId) ?? throw OpossumException.BadInput(
                $"{at}.tool_call_id names no call of the assistant message before it.", $"{at}.tool_call_id");
        if (!string.IsNullOrEmpty(message.ToolName))
            return calls.FirstOrDefault(c => c.Name == message.ToolName && !answered.Contains(c.Id)) ?? throw OpossumException.BadInput(
                $"{at}.tool_name names no call of the assistant message before it that is not answered yet.", $"{at}.tool_name");
        return result < calls.Count ? calls[result] : throw OpossumException.BadInput(
            $"{at} is a tool's result, but the assistant message before it has no call {result + 1} for it to answer.", at);
    }

    private static ImageAttachment? Image(List<string>? images, string param)
    {
        if (images is not { Count: > 0 })
            return null;
        if (images.Count > 1)
            throw OpossumException.BadInput($"{param} may hold one image, not {images.Count}.", param);
        return ImageInput.Parse(images[0], param);
    }

    private static GenerationOptions? Options(OllamaOptions? options, List<ToolDefinition>? tools, OutputFormat? format)
    {
        var sampling = options is null ? null : Sampling.Options(options.Temperature, options.TopP,
            // Ollama's num_predict -1 (no limit) and -2 (fill the context) leave the length to the model, as no value does.
            options.NumPredict is -1 or -2 ? null : options.NumPredict, options.Stop, options.Seed, Names);
        // Ollama has no tool_choice: the model decides whether to call.
        return tools is null && format is null ? sampling : (sampling ?? new GenerationOptions()) with { Tools = tools, Format = format };
    }
}
