using System.Security.Cryptography;

namespace Opossum.Gateway.Chat;

/// <summary>
/// Ids that tell one chat request from another, so that a retried request is recognised by its
/// conversation. They need to be unique, not secret: a random prefix per process and a counter.
/// </summary>
public static class RequestIds
{
    private static readonly string Prefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private static long _next;

    public static string New() => Prefix + Interlocked.Increment(ref _next).ToString("x");
}
