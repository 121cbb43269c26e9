using System.Security.Cryptography;

namespace Opossum.Gateway.Chat;

/// <summary>
/// New conversation ids: 128 bits from the cryptographic random generator, as 32 lowercase hex
/// characters (the shape of <c>Guid.ToString("N")</c>). An id is the only thing that lets a client
/// continue a conversation, so it must not be guessable. <see cref="Guid.NewGuid"/> makes one system
/// call per id on Linux, and every one-shot chat needs two ids (the conversation's and the request's);
/// this draws a buffer per thread at a time and hands out each byte once.
/// </summary>
public static class ConversationIds
{
    private const int IdBytes = 16;
    private const int BufferBytes = 4096;

    [ThreadStatic] private static byte[]? t_random;
    [ThreadStatic] private static int t_used;

    public static string New()
    {
        var random = t_random;
        if (random is null || t_used + IdBytes > BufferBytes)
        {
            random = t_random ??= new byte[BufferBytes];
            RandomNumberGenerator.Fill(random);
            t_used = 0;
        }
        var id = Convert.ToHexStringLower(random, t_used, IdBytes);
        t_used += IdBytes;
        return id;
    }
}
