using System.Security.Cryptography;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>
/// Validates an image a client sent (GraphQL's <c>imageBase64</c>, an OpenAI data URL, an Ollama image): base64 (optionally a
/// data URL), at most 4 MiB, JPEG or PNG by its bytes. A refusal names <c>param</c> as the door calls it.
/// </summary>
public static class ImageInput
{
    public const int MaxBytes = 4 * 1024 * 1024;

    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] JpegSignature = [0xFF, 0xD8, 0xFF];

    public static ImageAttachment Parse(string base64, string param = "imageBase64")
    {
        var payload = StripDataUrl(base64.AsSpan().Trim());
        // Base64 is 4 chars per 3 bytes; refuse what cannot fit before decoding anything.
        if (payload.Length > (MaxBytes + 2) / 3 * 4 + 4)
            throw OpossumException.BadInput($"{param} is larger than {MaxBytes / (1024 * 1024)} MiB decoded.", param);
        var buffer = new byte[payload.Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64Chars(payload, buffer, out var length) || length == 0)
            throw OpossumException.BadInput($"{param} is not valid base64.", param);
        if (length > MaxBytes)
            throw OpossumException.BadInput($"{param} is {length} bytes decoded; the limit is {MaxBytes} bytes (4 MiB).", param);

        var data = buffer.AsSpan(0, length).ToArray();
        var mimeType = Detect(data) ?? throw OpossumException.BadInput($"{param} must be a JPEG or PNG image (detected from its bytes).", param);
        return new ImageAttachment(mimeType, data, Convert.ToHexStringLower(SHA256.HashData(data)));
    }

    private static string? Detect(ReadOnlySpan<byte> data) =>
        data.StartsWith(PngSignature) ? "image/png"
        : data.StartsWith(JpegSignature) ? "image/jpeg"
        : null;

    // Accepts "data:image/png;base64,...." as browsers produce it; the declared type is ignored.
    private static ReadOnlySpan<char> StripDataUrl(ReadOnlySpan<char> value)
    {
        if (!value.StartsWith("data:", StringComparison.OrdinalIgnoreCase)) return value;
        var comma = value.IndexOf(',');
        return comma < 0 ? value : value[(comma + 1)..];
    }
}
