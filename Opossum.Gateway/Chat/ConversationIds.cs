using System.Security.Cryptography;

namespace Opossum.Gateway.Chat;

/// <summary>
/// New conversation ids: 128 bits from the cryptographic random generator, as 32 lowercase hex
/// characters (the shape of <c>Guid.ToString("N")</c>). An id is the only thing that lets a client
/// continue a conversation, so it must not be guessable.
/// </summary>
public static class ConversationIds
{
    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
