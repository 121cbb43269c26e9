using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Opossum.Grains.Caching;

/// <summary>
/// The response cache key: SHA-256 (hex) of the model, the whole prompt context (image hashes included) and the sampling
/// options; a request without options has the key it had before options existed.
/// </summary>
public static class CacheKey
{
    public static string For(GenerationRequest request)
    {
        // One pooled buffer holds every field, length-prefixed so ("ab","c") and ("a","bc") never collide.
        var size = Size(request.Model);
        foreach (var message in request.Messages)
            size += Size(message.Role) + Size(message.Content) + Size(message.Image?.Sha256 ?? "");
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
                written = Write(buffer, written, message.Image?.Sha256 ?? "");
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
        return text.ToString();
    }

    private static int Size(string value) => sizeof(int) + Encoding.UTF8.GetByteCount(value);

    private static int Write(byte[] buffer, int offset, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, buffer.AsSpan(offset + sizeof(int)));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset), length);
        return offset + sizeof(int) + length;
    }
}
