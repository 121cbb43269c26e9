using Opossum.ServiceDefaults.Configuration;
using Opossum.Grains.Hosting;
using System.Buffers;
using System.Buffers.Text;
using Orleans.Serialization;
using Orleans.Storage;

namespace Opossum.Grains.Storage;

/// <summary>
/// How grain state is written to Redis: Orleans' own serialization of the state types (their
/// generated codecs, as the standalone storage keeps them), base64-encoded because the Redis provider
/// stores the payload as text. The provider's default is Newtonsoft JSON with type names: more than
/// twice the size, and a large part of a silo's CPU under cached-chat load, where every one-shot chat
/// writes its new conversation (docs/performance.md).
/// <para>
/// Either form is read: JSON begins with <c>{</c>, which is not a base64 character. Versions before
/// this one read only JSON, so a rolling upgrade from them first writes JSON
/// (<c>Opossum:RedisStateFormat=json</c>) until every silo runs this version (docs/operations.md).
/// </para>
/// </summary>
public sealed class RedisStateSerializer(Serializer serializer, IGrainStorageSerializer json, bool writeJson = false) : IGrainStorageSerializer
{
    /// <summary>Configuration key of the written form: <c>binary</c> (default) or <c>json</c>.</summary>
    public const string FormatSetting = "Opossum:RedisStateFormat";

    /// <summary>Whether <see cref="FormatSetting"/> asks for JSON; anything but the two forms is refused.</summary>
    public static bool WritesJson(string? format) => format?.Trim().ToLowerInvariant() switch
    {
        null or "" or "binary" => false,
        "json" => true,
        _ => throw SettingsCheck.Invalid($"{FormatSetting} must be 'binary' or 'json', not '{format}'."),
    };

    public BinaryData Serialize<T>(T? input) => writeJson
        ? json.Serialize(input)
        : BinaryData.FromString(Convert.ToBase64String(serializer.SerializeToArray(input)));

    public T? Deserialize<T>(BinaryData input)
    {
        var text = input.ToMemory().Span;
        if (text.IsEmpty || text[0] == (byte)'{')
            return json.Deserialize<T>(input);

        var bytes = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(text.Length));
        try
        {
            if (Base64.DecodeFromUtf8(text, bytes, out _, out var written) != OperationStatus.Done)
                throw new FormatException("Stored grain state is neither JSON nor base64.");
            return serializer.Deserialize<T>(new ReadOnlyMemory<byte>(bytes, 0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }
}
