using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>Request bodies read whole from Kestrel's pipe (also compiled into the benchmark's OTLP sink).</summary>
public static class RequestBodies
{
    /// <summary>
    /// Caps the request's body at <paramref name="max"/> bytes: false when its declared length is already over it; one
    /// sent without a length fails its read with a 413 <see cref="BadHttpRequestException"/> once that much has arrived,
    /// and Kestrel then reads no more of it.
    /// </summary>
    public static bool Cap(HttpRequest request, long max)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = max;
        return request.ContentLength is null || request.ContentLength <= max;
    }

    /// <summary>
    /// Hands <paramref name="read"/> the whole body: where Kestrel holds it when it arrived in one read,
    /// else copied out as it arrives — Kestrel stops reading the connection while more than its request
    /// buffer (1 MiB) is unconsumed, so a larger body cannot be left in the pipe. The copy is sized by what
    /// arrived, not by the declared length: a client that announces megabytes and sends little holds little.
    /// </summary>
    public static async Task<T> ReadWholeAsync<TState, T>(PipeReader body, TState state,
        Func<TState, ReadOnlySequence<byte>, T> read, CancellationToken cancellationToken)
    {
        PooledBufferWriter? copied = null;
        try
        {
            while (true)
            {
                var result = await body.ReadAsync(cancellationToken);
                if (result.IsCompleted && copied is null)
                {
                    try
                    {
                        return read(state, result.Buffer);
                    }
                    finally
                    {
                        body.AdvanceTo(result.Buffer.End);
                    }
                }
                copied ??= new PooledBufferWriter(Math.Max(4096, (int)result.Buffer.Length * 2));
                foreach (var segment in result.Buffer)
                    copied.Write(segment.Span);
                body.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                    return read(state, new ReadOnlySequence<byte>(copied.WrittenMemory));
            }
        }
        finally
        {
            copied?.Dispose();
        }
    }
}
