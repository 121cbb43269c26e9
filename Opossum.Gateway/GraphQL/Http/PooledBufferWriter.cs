using System.Buffers;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>A growable buffer over arrays rented from the shared pool; disposing returns the array.</summary>
public sealed class PooledBufferWriter(int initialCapacity) : IBufferWriter<byte>, IDisposable
{
    /// <summary>
    /// Larger arrays are allocated, not rented: the shared pool keeps up to one array of each size per thread, so
    /// large bodies would otherwise leave a large array with every thread that handled one.
    /// </summary>
    public const int MaxPooledBytes = 64 * 1024;

    private byte[] _buffer = Rent(initialCapacity);
    private int _written;

    public int WrittenCount => _written;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _written);
        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Reserve(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 1);
        if (needed <= _buffer.Length) return;
        var larger = Rent(Math.Max(needed, _buffer.Length * 2));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        Return(_buffer);
        _buffer = larger;
    }

    public void Dispose()
    {
        Return(_buffer);
        _buffer = [];
        _written = 0;
    }

    private static byte[] Rent(int length) =>
        length <= MaxPooledBytes ? ArrayPool<byte>.Shared.Rent(length) : GC.AllocateUninitializedArray<byte>(length);

    private static void Return(byte[] buffer)
    {
        if (buffer.Length is > 0 and <= MaxPooledBytes)
            ArrayPool<byte>.Shared.Return(buffer);
    }
}
