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
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, request.Model);
        foreach (var message in request.Messages)
        {
            Append(hash, message.Role);
            Append(hash, message.Content);
            Append(hash, message.Image?.Sha256 ?? "");
        }
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return Convert.ToHexStringLower(digest);
    }

    // Each field is length-prefixed so ("ab","c") and ("a","bc") never collide.
    private static void Append(IncrementalHash hash, string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        var buffer = ArrayPool<byte>.Shared.Rent(length + sizeof(int));
        try
        {
            BinaryPrimitives.WriteInt32LittleEndian(buffer, length);
            Encoding.UTF8.GetBytes(value, buffer.AsSpan(sizeof(int)));
            hash.AppendData(buffer, 0, length + sizeof(int));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
