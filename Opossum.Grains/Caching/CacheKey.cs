using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Opossum.Grains.Caching;

/// <summary>The response cache key: SHA-256 (hex) of the model and the whole prompt context, image hashes included.</summary>
public static class CacheKey
{
    public static string For(GenerationRequest request)
    {
        // One pooled buffer holds every field, length-prefixed so ("ab","c") and ("a","bc") never collide.
        var size = Size(request.Model);
        foreach (var message in request.Messages)
            size += Size(message.Role) + Size(message.Content) + Size(message.Image?.Sha256 ?? "");
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
            Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(buffer.AsSpan(0, written), digest);
            return Convert.ToHexStringLower(digest);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int Size(string value) => sizeof(int) + Encoding.UTF8.GetByteCount(value);

    private static int Write(byte[] buffer, int offset, string value)
    {
        var length = Encoding.UTF8.GetBytes(value, buffer.AsSpan(offset + sizeof(int)));
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset), length);
        return offset + sizeof(int) + length;
    }
}
