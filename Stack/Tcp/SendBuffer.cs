// Layer: transport (TCP), send side. The bytes between SND.UNA and what the application queued, in pooled
// chunks. The application's bytes are copied once into a chunk; segments reference the chunks (no copy).
using NetStack.Buffers;

namespace NetStack.Tcp;

/// <summary>
/// The send queue of one connection. Not thread-safe: the connection's lock guards every call. A writer
/// reserves room with <see cref="Reserve"/> under the lock, copies outside it, and commits under it again;
/// reserved bytes are never referenced by segments or released before the commit.
/// </summary>
internal sealed class SendBuffer(PacketBufferPool pool)
{
    private const int ChunkCapacity = 16384;

    private readonly List<PacketBuffer> _chunks = [];
    private int _headOffset;     // bytes of _chunks[0] already acknowledged
    private int _reserved;       // bytes appended to the tail chunk for a writer that has not committed yet
    private bool _cleared;       // cleared while a reservation was outstanding: release the tail at commit
    private int _cursorChunk;    // the chunk the last AppendTo took bytes from (segments go out in order) ...
    private int _cursorStart;    // ... and where it starts, counted from _chunks[0]'s start

    /// <summary>Committed bytes not yet acknowledged (sent or not).</summary>
    public int Length { get; private set; }

    /// <summary>Memory the held chunks pin, whole chunks (Linux's sk_wmem_queued counts truesize): what the stack's TCP memory budget charges.</summary>
    public long MemoryBytes { get; private set; }

    private static int Footprint(PacketBuffer chunk) => PacketBuffer.ObjectOverhead + chunk.Headroom + chunk.Length + chunk.Tailroom;

    /// <summary>Reserves up to <paramref name="max"/> bytes at the end; may return fewer (end of a chunk).</summary>
    public Span<byte> Reserve(int max)
    {
        if (_reserved != 0)
        {
            throw new InvalidOperationException("A write is already in progress.");
        }
        PacketBuffer? tail = _chunks.Count > 0 ? _chunks[^1] : null;
        if (tail is null || tail.Tailroom == 0)
        {
            tail = pool.Rent(ChunkCapacity, 0);
            _chunks.Add(tail);
            MemoryBytes += Footprint(tail);
            if (_chunks.Count == 1)
            {
                _headOffset = 0;
            }
        }
        int n = Math.Min(max, tail.Tailroom);
        _reserved = n;
        return tail.Append(n);
    }

    /// <summary>Ends a reservation: <paramref name="used"/> bytes of it hold data.</summary>
    public void Commit(int used)
    {
        int unused = _reserved - used;
        _reserved = 0;
        PacketBuffer tail = _chunks[^1];
        if (unused > 0)
        {
            tail.TrimTo(tail.Length - unused);
        }
        if (_cleared)
        {
            _cleared = false;
            _chunks.Clear();
            _cursorChunk = _cursorStart = 0;
            MemoryBytes = 0;
            tail.Release();
            return;
        }
        Length += used;
    }

    /// <summary>
    /// Appends a whole packet's bytes by reference (send by reference: a chunk a relay read a host socket into): the
    /// buffer owns the caller's reference from here on and releases it once its bytes are acknowledged.
    /// </summary>
    public void AppendChunk(PacketBuffer chunk)
    {
        if (_reserved != 0)
        {
            throw new InvalidOperationException("A write is already in progress.");
        }
        _chunks.Add(chunk);
        if (_chunks.Count == 1)
        {
            _headOffset = 0;
        }
        Length += chunk.Length;
        MemoryBytes += Footprint(chunk);
    }

    /// <summary>Appends bytes [<paramref name="offset"/>, +<paramref name="length"/>) counted from SND.UNA to <paramref name="packet"/> by reference.</summary>
    public bool AppendTo(PacketBuffer packet, int offset, int length)
    {
        int position = offset + _headOffset; // from _chunks[0]'s start
        int i = 0, chunkStart = 0;
        if (position >= _cursorStart && _cursorChunk < _chunks.Count)
        {
            // The next segment in order starts where the last one ended: O(1) however long the buffer, where a
            // walk from the front costs O(chunks) per segment (256 for a 4 MiB buffer). A retransmission below
            // the cursor walks from the front.
            i = _cursorChunk;
            chunkStart = _cursorStart;
        }
        for (; i < _chunks.Count && length > 0; i++)
        {
            PacketBuffer chunk = _chunks[i];
            int chunkLength = chunk.Length - (i == _chunks.Count - 1 ? _reserved : 0);
            int skip = position - chunkStart;
            if (skip < chunkLength)
            {
                _cursorChunk = i; // a chunk's start never moves: only the last chunk grows or shrinks
                _cursorStart = chunkStart;
                int take = Math.Min(chunkLength - skip, length);
                if (!packet.AppendReference(chunk, skip, take))
                {
                    return false;
                }
                length -= take;
                position += take;
            }
            chunkStart += chunkLength;
        }
        return length == 0;
    }

    /// <summary>Drops <paramref name="count"/> acknowledged bytes from the front.</summary>
    public void Consume(int count)
    {
        Length -= count;
        _headOffset += count;
        while (_chunks.Count > 0)
        {
            PacketBuffer head = _chunks[0];
            bool isReservedTail = _chunks.Count == 1 && _reserved != 0;
            if (_headOffset < head.Length || isReservedTail || (_chunks.Count == 1 && head.Tailroom > 0))
            {
                break;
            }
            int headLength = head.Length;
            _headOffset -= headLength;
            MemoryBytes -= Footprint(head);
            head.Release();
            _chunks.RemoveAt(0);
            if (_cursorChunk > 0)
            {
                _cursorChunk--;
                _cursorStart -= headLength;
            }
            else
            {
                _cursorStart = 0;
            }
        }
    }

    /// <summary>Releases every chunk (reset, close). A chunk a writer is copying into is released at its commit.</summary>
    public void Clear()
    {
        _cursorChunk = _cursorStart = 0;
        for (int i = 0; i < _chunks.Count; i++)
        {
            if (i == _chunks.Count - 1 && _reserved != 0)
            {
                _cleared = true;
                PacketBuffer tail = _chunks[i];
                _chunks.Clear();
                _chunks.Add(tail);
                Length = 0;
                _headOffset = 0;
                MemoryBytes = Footprint(tail);
                return;
            }
            _chunks[i].Release();
        }
        _chunks.Clear();
        Length = 0;
        _headOffset = 0;
        MemoryBytes = 0;
    }
}
