using System.Security.Cryptography;
using System.Text;
using Opossum.Gateway.Protection;

namespace Opossum.Gateway.Chat;

/// <summary>
/// The conversation grain that holds a client's conversation: keyed by a hash of its owner (the key's name that
/// started it) and the id the client holds. Another key asking for the same id reaches a grain that never started,
/// so it is told CONVERSATION_NOT_FOUND exactly as for an id that does not exist; and the id the client holds never
/// appears in grain-call spans, storage keys or logs. Without keys there is no owner: whoever holds the id may use it.
/// </summary>
public static class ConversationKeys
{
    public static string For(Caller caller, string conversationId)
    {
        var owner = caller.Keyed ? caller.Name : "";
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(owner + "\n" + conversationId), digest);
        return Convert.ToHexStringLower(digest[..16]);
    }
}
