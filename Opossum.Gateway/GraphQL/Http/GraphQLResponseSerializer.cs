using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using GraphQL;
using GraphQL.Execution;
using GraphQL.SystemTextJson;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL.NET's System.Text.Json serializer that can also write a response into memory in one
/// synchronous pass. Responses are small: serialized straight into the response stream they went
/// through System.Text.Json's asynchronous path and were sent chunked; from memory a response goes
/// out in one write with a Content-Length.
/// </summary>
public sealed class GraphQLResponseSerializer(JsonSerializerOptions options, IErrorInfoProvider errorInfo)
    : GraphQLSerializer(options, errorInfo)
{
    /// <summary>The gateway's settings: non-ASCII text (answers in any language) written as is, not escaped.</summary>
    public static GraphQLResponseSerializer Create(IErrorInfoProvider errorInfo) =>
        new(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }, errorInfo);

    /// <summary>GraphQL.NET's inputs (variables, extensions) from the JSON object <paramref name="reader"/> is on.</summary>
    public Inputs? ReadInputs(ref Utf8JsonReader reader) => JsonSerializer.Deserialize<Inputs>(ref reader, SerializerOptions);

    // Writing is synchronous, so one writer per thread can be reused; kept because the plain replacements together cost a cached chat measurably more.
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    public void Write<T>(IBufferWriter<byte> output, T value)
    {
        var writer = t_writer;
        if (writer is null || writer.Options.Encoder != SerializerOptions.Encoder || writer.Options.Indented != SerializerOptions.WriteIndented)
            writer = t_writer = new Utf8JsonWriter(output, new JsonWriterOptions
            {
                Encoder = SerializerOptions.Encoder,
                Indented = SerializerOptions.WriteIndented,
                SkipValidation = true,
            });
        else
            writer.Reset(output);
        try
        {
            JsonSerializer.Serialize(writer, value, SerializerOptions);
            writer.Flush();
        }
        finally
        {
            writer.Reset(); // let go of the output buffer
        }
    }
}
