// Layer: packet memory. A BufferChunk is one pooled, pinned byte array with a reference count; a
// PacketBuffer views one chunk as its head and any number of chunks (by reference) as payload.
namespace NetStack.Buffers;

/// <summary>
/// A reference-counted block of pinned memory owned by a <see cref="PacketBufferPool"/>. Pinned (allocated
/// on the POH) so the I/O edge can hand its address to <c>readv</c>/<c>writev</c> without a <c>fixed</c>.
/// </summary>
internal sealed class BufferChunk
{
    internal readonly byte[] Array;
    internal readonly PacketBufferPool? Pool;
    internal readonly int SizeClass; // index into the pool's classes, or -1 when unpooled (oversize)
    private int _refCount;

    internal BufferChunk(PacketBufferPool? pool, int sizeClass, int size)
    {
        Pool = pool;
        SizeClass = sizeClass;
        Array = GC.AllocateUninitializedArray<byte>(size, pinned: true);
    }

    /// <summary>Called by the pool when the chunk is handed out: count starts at one.</summary>
    internal void Activate() => Volatile.Write(ref _refCount, 1);

    /// <summary>Owners now (packets, and the pool's user while it builds one); 0 once returned.</summary>
    internal int ReferenceCount => Volatile.Read(ref _refCount);

    internal void AddRef()
    {
        int n = Interlocked.Increment(ref _refCount);
        if (n <= 1)
        {
            throw new InvalidOperationException("BufferChunk referenced after it was returned to the pool.");
        }
    }

    internal void Release()
    {
        int n = Interlocked.Decrement(ref _refCount);
        if (n == 0)
        {
            Pool?.ReturnChunk(this);
        }
        else if (n < 0)
        {
            throw new InvalidOperationException("BufferChunk released more times than it was referenced.");
        }
    }
}

/// <summary>A slice of a chunk that a packet holds one reference on.</summary>
internal struct PayloadSegment
{
    internal BufferChunk Chunk;
    internal int Offset;
    internal int Length;

    internal readonly Span<byte> Span => Chunk.Array.AsSpan(Offset, Length);
}
