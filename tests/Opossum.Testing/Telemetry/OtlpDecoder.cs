using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Opossum.Testing.Telemetry;

/// <summary>A minimal protobuf reader for the parts of opentelemetry/proto/trace/v1 that tests and the benchmark need.</summary>
public static class OtlpDecoder
{
    // ExportTraceServiceRequest.resource_spans = 1; ResourceSpans.resource = 1, scope_spans = 2;
    // Resource.attributes = 1; ScopeSpans.spans = 2; Span: trace_id = 1, span_id = 2, parent_span_id = 4,
    // name = 5, attributes = 9; KeyValue: key = 1, value = 2; AnyValue: string = 1, bool = 2, int = 3, double = 4.

    /// <summary>The spans in an <c>ExportTraceServiceRequest</c>, counted without decoding any.</summary>
    public static long CountSpans(ReadOnlySpan<byte> request)
    {
        long spans = 0;
        var resourceSpans = new ProtobufFields(request);
        while (resourceSpans.Next(1, out var resource))
        {
            var scopeSpans = new ProtobufFields(resource);
            while (scopeSpans.Next(2, out var scope))
            {
                var inScope = new ProtobufFields(scope);
                while (inScope.Next(2, out _))
                    spans++;
            }
        }
        return spans;
    }

    /// <summary>The spans in an <c>ExportTraceServiceRequest</c>, each with its resource's attributes.</summary>
    public static List<OtlpSpan> Spans(ReadOnlySpan<byte> request)
    {
        var spans = new List<OtlpSpan>();
        var resourceSpans = new ProtobufFields(request);
        while (resourceSpans.Next(1, out var resourceSpan))
        {
            var resource = new Dictionary<string, string>();
            var resources = new ProtobufFields(resourceSpan);
            while (resources.Next(1, out var resourceMessage))
                AddAttributes(resource, resourceMessage, 1);
            var scopeSpans = new ProtobufFields(resourceSpan);
            while (scopeSpans.Next(2, out var scope))
            {
                var inScope = new ProtobufFields(scope);
                while (inScope.Next(2, out var span))
                    spans.Add(Span(span, resource));
            }
        }
        return spans;
    }

    private static OtlpSpan Span(ReadOnlySpan<byte> span, IReadOnlyDictionary<string, string> resource)
    {
        string? traceId = null, spanId = null, parentSpanId = null, name = null;
        var attributes = new Dictionary<string, string>();
        var fields = new ProtobufFields(span);
        while (fields.Next(out var number, out var bytes, out _))
        {
            switch (number)
            {
                case 1: traceId ??= Convert.ToHexStringLower(bytes); break;
                case 2: spanId ??= Convert.ToHexStringLower(bytes); break;
                case 4: parentSpanId ??= Convert.ToHexStringLower(bytes); break;
                case 5: name ??= Encoding.UTF8.GetString(bytes); break;
            }
        }
        AddAttributes(attributes, span, 9);
        return new OtlpSpan(traceId ?? "", spanId ?? "", parentSpanId ?? "", name ?? "", attributes, resource);
    }

    /// <summary>The <c>KeyValue</c> fields numbered <paramref name="number"/> of <paramref name="message"/>.</summary>
    private static void AddAttributes(Dictionary<string, string> to, ReadOnlySpan<byte> message, int number)
    {
        var keyValues = new ProtobufFields(message);
        while (keyValues.Next(number, out var keyValue))
        {
            string? key = null, value = null;
            var parts = new ProtobufFields(keyValue);
            while (parts.Next(out var part, out var bytes, out _))
            {
                if (part == 1) key ??= Encoding.UTF8.GetString(bytes);
                else if (part == 2) value ??= AnyValue(bytes);
            }
            to.Add(key ?? throw new InvalidDataException("an attribute without a key"), value ?? "");
        }
    }

    private static string AnyValue(ReadOnlySpan<byte> any)
    {
        var fields = new ProtobufFields(any);
        if (!fields.Next(out var number, out var bytes, out var value)) return "";
        return number switch
        {
            1 => Encoding.UTF8.GetString(bytes),
            2 => (value != 0).ToString(),
            3 => ((long)value).ToString(CultureInfo.InvariantCulture),
            4 => BitConverter.Int64BitsToDouble((long)value).ToString(CultureInfo.InvariantCulture),
            _ => "",
        };
    }

    /// <summary>The fields of one protobuf message, in order.</summary>
    private ref struct ProtobufFields(ReadOnlySpan<byte> message)
    {
        private readonly ReadOnlySpan<byte> _message = message;
        private int _at;

        /// <summary>The next length-delimited field numbered <paramref name="number"/>; other fields are skipped.</summary>
        public bool Next(int number, out ReadOnlySpan<byte> bytes)
        {
            while (Read(out var found, out var delimited, out bytes, out _))
            {
                if (found == number && delimited)
                    return true;
            }
            return false;
        }

        /// <summary>The next field: a length-delimited one's <paramref name="bytes"/>, or another's <paramref name="value"/>.</summary>
        public bool Next(out int number, out ReadOnlySpan<byte> bytes, out ulong value) => Read(out number, out _, out bytes, out value);

        private bool Read(out int number, out bool delimited, out ReadOnlySpan<byte> bytes, out ulong value)
        {
            number = 0;
            delimited = false;
            bytes = default;
            value = 0;
            if (_at >= _message.Length) return false;
            var tag = Varint();
            number = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0:
                    value = Varint();
                    break;
                case 1:
                    value = BinaryPrimitives.ReadUInt64LittleEndian(_message[_at..]);
                    _at += 8;
                    break;
                case 2:
                    var length = (int)Varint();
                    bytes = _message.Slice(_at, length);
                    delimited = true;
                    _at += length;
                    break;
                case 5:
                    value = BinaryPrimitives.ReadUInt32LittleEndian(_message[_at..]);
                    _at += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {tag & 7}");
            }
            return true;
        }

        private ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = _message[_at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
        }
    }
}
