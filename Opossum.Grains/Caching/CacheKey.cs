using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Opossum.Grains.Caching;

/// <summary>
/// The response cache key: SHA-256 (hex) of the model, the whole prompt context (image hashes, tool calls and results included)
/// and the options (sampling, tools, tool choice, format); a request without options or tool messages has the key it had before they existed.
/// </summary>
public static class CacheKey
{
    public static string For(GenerationRequest request)
    {
        // One pooled buffer holds every field, length-prefixed so ("ab","c") and ("a","bc") never collide.
        var size = Size(request.Model);
        foreach (var message in request.Messages)
            size += Size(message.Role) + Size(message.Content) + Size(Attachments(message));
        var options = request.Options is { IsEmpty: false } set ? Describe(set) : null;
        if (options is not null)
            size += Size(options);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var written = Write(buffer, 0, request.Model);
            foreach (var message in request.Messages)
            {
                written = Write(buffer, written, message.Role);
                written = Write(buffer, written, message.Content);
                written = Write(buffer, written, Attachments(message));
            }
            if (options is not null)
                written = Write(buffer, written, options);
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer.AsSpan(0, written), digest);
            return Convert.ToHexStringLower(digest);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // The image's hash (hex, a fixed length, or empty), then what a tool message adds: so a message without tool fields keeps its bytes.
    private static string Attachments(ChatMessage message)
    {
        var sha = message.Image?.Sha256 ?? "";
        if (message.ToolCalls is not { Count: > 0 } && message.ToolCallId is null && message.ToolName is null)
            return sha;
        var text = new StringBuilder(sha).Append("|tools");
        foreach (var call in message.ToolCalls ?? [])
            Field(Field(Field(text.Append(";call="), call.Id), call.Name), call.Arguments);
        if (message.ToolCallId is { } id) Field(text.Append(";id="), id);
        if (message.ToolName is { } name) Field(text.Append(";name="), name);
        return text.ToString();
    }

    // Every field named, invariant: "t=0.5" and "p=0.5" differ; the stop sequences length-prefixed like the messages.
    private static string Describe(GenerationOptions options)
    {
        var text = new StringBuilder("options");
        if (options.Temperature is { } temperature) text.Append(CultureInfo.InvariantCulture, $";t={temperature:R}");
        if (options.TopP is { } topP) text.Append(CultureInfo.InvariantCulture, $";p={topP:R}");
        if (options.MaxTokens is { } maxTokens) text.Append(CultureInfo.InvariantCulture, $";n={maxTokens}");
        if (options.Seed is { } seed) text.Append(CultureInfo.InvariantCulture, $";s={seed}");
        foreach (var stop in options.Stop ?? [])
            text.Append(CultureInfo.InvariantCulture, $";x={stop.Length}:{stop}");
        foreach (var tool in options.Tools ?? [])
            Field(Field(Field(text.Append(";f="), tool.Name), tool.Description), tool.Parameters).Append(tool.Strict ? '!' : '?');
        if (options.ToolChoice is { } choice) Field(Field(text.Append(";c="), choice.Mode), choice.Function);
        if (options.ParallelToolCalls is { } parallel) text.Append(parallel ? ";par=1" : ";par=0");
        if (options.Format is { } format)
            Field(Field(text.Append(";j="), format.Schema), format.Name).Append(format.Strict ? '!' : '?');
        return text.ToString();
    }

    // Length-prefixed, so that no two sequences of fields write the same text; null is "-", which no length starts with.
    private static StringBuilder Field(StringBuilder text, string? value) =>
        value is null ? text.Append('-') : text.Append(CultureInfo.InvariantCulture, $"{value.Length}:{value}");

    private static int Size(string value) => sizeof(int) + Encoding.UTF8.GetByteCount(value);

    private static int Write(byte[] buffer, int offset, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, buffer.AsSpan(offset + sizeof(int)));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset), length);
        return offset + sizeof(int) + length;
    }
}
