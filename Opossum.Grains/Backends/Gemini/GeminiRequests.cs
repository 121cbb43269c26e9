using System.Text.Json;
using System.Text.Json.Nodes;

namespace Opossum.Grains.Backends.Gemini;

/// <summary>A generation request in Gemini's words: its turns as contents, its sampling, tools and format as config.</summary>
internal static class GeminiRequests
{
    // Every system message in one systemInstruction, in order; Gemini takes a 32-bit seed, so a larger one is folded to 32 bits.
    public static GeminiRequest ToWire(GenerationRequest request)
    {
        var messages = request.Messages;
        var system = string.Join("\n\n", messages.Where(m => m.Role == "system").Select(m => m.Content));
        var contents = new List<GeminiContent>();
        foreach (var message in messages.Where(m => m.Role != "system"))
        {
            if (message.Role != "tool")
            {
                contents.Add(ToWire(message));
                continue;
            }
            // Gemini takes the results of one turn's calls as the parts of one user content, as many as there were calls.
            var result = new GeminiPart(FunctionResponse: new GeminiFunctionResponse(
                message.ToolName ?? NameOf(message.ToolCallId, messages) ?? "", Response(message.Content), message.ToolCallId));
            if (contents is [.., { Role: "user", Parts: [{ FunctionResponse: not null }, ..] } previous])
                contents[^1] = previous with { Parts = [.. previous.Parts, result] };
            else
                contents.Add(new GeminiContent("user", [result]));
        }
        var options = request.Options;
        return new GeminiRequest(contents, messages.Any(m => m.Role == "system") ? new GeminiContent(null, [new GeminiPart(system)]) : null,
            Config(options), Tools(options), ToolConfig(options));
    }

    private static GeminiContent ToWire(ChatMessage message)
    {
        List<GeminiPart> parts = [];
        if (message.Content.Length > 0 || message.ToolCalls is not { Count: > 0 })
            parts.Add(new GeminiPart(message.Content));
        if (message.Image is { } image)
            parts.Add(new GeminiPart(InlineData: new GeminiInlineData(image.MimeType, Convert.ToBase64String(image.Data))));
        foreach (var call in message.ToolCalls ?? [])
            parts.Add(new GeminiPart(FunctionCall: new GeminiFunctionCall(call.Name, JsonElement.Parse(call.Arguments), call.Id)));
        return new GeminiContent(message.Role == "assistant" ? "model" : "user", parts);
    }

    // The function of the call a result answers, when the door did not name it.
    private static string? NameOf(string? callId, IReadOnlyList<ChatMessage> messages) =>
        callId is null ? null : messages.SelectMany(m => m.ToolCalls ?? []).FirstOrDefault(c => c.Id == callId)?.Name;

    // Gemini takes a function's response as an object: a result that is one goes as it is, anything else as {"content": text}.
    private static JsonElement Response(string content)
    {
        try
        {
            if (JsonElement.Parse(content) is { ValueKind: JsonValueKind.Object } json)
                return json;
        }
        catch (JsonException)
        {
            // Not JSON: text, wrapped below.
        }
        return JsonElement.Parse(new JsonObject { ["content"] = content }.ToJsonString());
    }

    private static GeminiGenerationConfig? Config(GenerationOptions? options)
    {
        if (options is null || (options.Temperature is null && options.TopP is null && options.MaxTokens is null && options.Stop is not { Count: > 0 }
                                && options.Seed is null && options.Format is null))
            return null;
        var format = options.Format;
        return new GeminiGenerationConfig(options.Temperature, options.TopP, options.MaxTokens, options.Stop is { Count: > 0 } stop ? stop : null,
            options.Seed is { } seed ? unchecked((int)seed) : null,
            format is null ? null : "application/json", format?.Schema is { } schema ? JsonElement.Parse(schema) : null);
    }

    private static List<GeminiTool>? Tools(GenerationOptions? options) => options is { HasTools: true }
        ? [new GeminiTool(options.Tools!.Select(t => new GeminiFunctionDeclaration(t.Name, t.Description, JsonElement.Parse(t.Parameters))).ToList())]
        : null;

    // OpenAI's tool choice in Gemini's modes: "required" is ANY, one function is ANY limited to it.
    private static GeminiToolConfig? ToolConfig(GenerationOptions? options) => options is { HasTools: true, ToolChoice: { } choice }
        ? new GeminiToolConfig(choice.Mode switch
        {
            ToolChoice.Modes.None => new GeminiFunctionCallingConfig("NONE"),
            ToolChoice.Modes.Required => new GeminiFunctionCallingConfig("ANY"),
            ToolChoice.Modes.Function => new GeminiFunctionCallingConfig("ANY", choice.Function is { } name ? [name] : null),
            _ => new GeminiFunctionCallingConfig("AUTO"),
        })
        : null;
}
