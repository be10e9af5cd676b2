using System.Runtime.CompilerServices;
using NetStack.Wire;

namespace NetStack.Buffers;

/// <summary>
/// One packet: a head segment in a pooled chunk, with headroom in front for pushing headers, followed by
/// zero or more payload segments held by reference (so GRO coalescing and scatter-gather writes never copy
/// payload), plus per-packet metadata. Reference-counted: <see cref="AddRef"/> for every extra owner,
/// <see cref="Release"/> once per owner; the last release returns all memory to the pool (ARCHITECTURE.md §3).
/// Data operations are single-owner (not thread-safe); reference counting is thread-safe.
/// </summary>
public sealed class PacketBuffer : IDisposable
{
    /// <summary>Most payload segments a packet can hold; a 64 KiB GRO super-segment of 1448-byte segments needs 46.</summary>
    public const int MaxPayloadSegments = 128;

    private readonly PacketBufferPool _pool;
    private BufferChunk? _head;
    private int _headStart;
    private int _headLength;
    /// <summary>Payload segments an object holds without renting (most packets: a send-buffer slice or two).</summary>
    private const int InlineSegments = 4;

    private readonly PayloadSegment[] _inlineSegments = new PayloadSegment[InlineSegments];
    private PayloadSegment[] _segments;
    private int _segmentCount;
    private int _length;
    private int _refCount;

    internal PacketBuffer(PacketBufferPool pool)
    {
        _pool = pool;
        _segments = _inlineSegments;
    }

    /// <summary>Network-layer protocol, set by the edge or the endpoint that classified the packet.</summary>
    public NetworkProtocol NetworkProtocol { get; set; }

    /// <summary>The transport checksum was verified (or the packet came from a trusted source); the stack need not re-check it.</summary>
    public bool RxChecksumValidated { get; set; }

    /// <summary>Segmentation metadata of an outbound super-segment, or of an inbound GRO-coalesced packet.</summary>
    public GsoOptions Gso;

    /// <summary>How many wire segments this packet stands for (1, or more after GRO coalescing).</summary>
    public int SegmentsRepresented { get; set; }

    /// <summary>The pool that owns this buffer's memory.</summary>
    public PacketBufferPool Pool => _pool;

    /// <summary>Total data length: head plus payload segments.</summary>
    public int Length
    {
        get { CheckAlive(); return _length; }
    }

    /// <summary>Bytes available in front of the data for <see cref="Prepend"/>.</summary>
    public int Headroom
    {
        get { CheckAlive(); return _headStart; }
    }

    /// <summary>Bytes available after the head data for <see cref="Append"/> (zero once payload segments are attached).</summary>
    public int Tailroom
    {
        get { CheckAlive(); return _segmentCount == 0 ? _head!.Array.Length - _headStart - _headLength : 0; }
    }

    /// <summary>The head segment's data (headers, and for a packet read at the edge the whole packet).</summary>
    public Span<byte> Head
    {
        get { CheckAlive(); return _head!.Array.AsSpan(_headStart, _headLength); }
    }

    /// <summary>Head plus payload segments: the number of contiguous pieces of the packet.</summary>
    public int FragmentCount
    {
        get { CheckAlive(); return 1 + _segmentCount; }
    }

    /// <summary>Current reference count (diagnostics and tests).</summary>
    public int ReferenceCount => Volatile.Read(ref _refCount);

    /// <summary>Memory an owner's reference stands for, charged per object besides its chunks.</summary>
    public const int ObjectOverhead = 256;

    /// <summary>
    /// The memory this packet pins, whatever its length (Linux's skb->truesize): the object plus every chunk it
    /// references, whole — a chunk shared by several owners (a send buffer's chunk that many segments reference)
    /// counts for each its share, as Linux charges page fragments. A queue that holds packets charges this, not
    /// <see cref="Length"/>: a 1-byte segment read into a 2 KiB chunk pins 2 KiB (docs/ARCHITECTURE.md §3, §6).
    /// </summary>
    public int TrueSize
    {
        get
        {
            CheckAlive();
            int size = ObjectOverhead + Share(_head!);
            for (int i = 0; i < _segmentCount; i++)
            {
                size += Share(_segments[i].Chunk);
            }
            return size;
        }
    }

    private static int Share(BufferChunk chunk) => chunk.Array.Length / Math.Max(1, chunk.ReferenceCount);

    /// <summary>Piece <paramref name="index"/> of the packet: 0 is the head, then the payload segments in order.</summary>
    public Span<byte> GetFragment(int index)
    {
        CheckAlive();
        if (index == 0)
        {
            return _head!.Array.AsSpan(_headStart, _headLength);
        }
        if ((uint)(index - 1) >= (uint)_segmentCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        return _segments[index - 1].Span;
    }

    /// <summary>Piece <paramref name="index"/> as memory (for async I/O); the memory stays valid while a reference is held.</summary>
    public Memory<byte> GetFragmentMemory(int index)
    {
        CheckAlive();
        if (index == 0)
        {
            return _head!.Array.AsMemory(_headStart, _headLength);
        }
        if ((uint)(index - 1) >= (uint)_segmentCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        ref PayloadSegment s = ref _segments[index - 1];
        return s.Chunk.Array.AsMemory(s.Offset, s.Length);
    }

    /// <summary>The tailroom of the head, for an I/O edge to read into; follow with <see cref="Append"/> of the byte count read.</summary>
    public Span<byte> TailroomSpan
    {
        get
        {
            CheckAlive();
            if (_segmentCount != 0)
            {
                return [];
            }
            int start = _headStart + _headLength;
            return _head!.Array.AsSpan(start, _head.Array.Length - start);
        }
    }

    /// <summary>The tailroom as memory, for async reads.</summary>
    public Memory<byte> TailroomMemory
    {
        get
        {
            CheckAlive();
            if (_segmentCount != 0)
            {
                return Memory<byte>.Empty;
            }
            int start = _headStart + _headLength;
            return _head!.Array.AsMemory(start, _head.Array.Length - start);
        }
    }

    /// <summary>Grows the head by <paramref name="count"/> bytes at its end and returns them (for building, or after reading into <see cref="TailroomSpan"/>).</summary>
    public Span<byte> Append(int count)
    {
        CheckAlive();
        if (count < 0 || count > Tailroom)
        {
            throw new InvalidOperationException($"Append({count}) exceeds tailroom {Tailroom}.");
        }
        int start = _headStart + _headLength;
        _headLength += count;
        _length += count;
        return _head!.Array.AsSpan(start, count);
    }

    /// <summary>Pushes <paramref name="count"/> bytes in front of the data (a header) and returns them.</summary>
    public Span<byte> Prepend(int count)
    {
        CheckAlive();
        if (count < 0 || count > _headStart)
        {
            throw new InvalidOperationException($"Prepend({count}) exceeds headroom {_headStart}.");
        }
        _headStart -= count;
        _headLength += count;
        _length += count;
        return _head!.Array.AsSpan(_headStart, count);
    }

    /// <summary>Removes <paramref name="count"/> bytes from the front (pops a header), crossing into payload segments if needed.</summary>
    public void TrimFront(int count)
    {
        CheckAlive();
        if ((uint)count > (uint)_length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }
        _length -= count;
        int fromHead = Math.Min(count, _headLength);
        _headStart += fromHead;
        _headLength -= fromHead;
        count -= fromHead;
        int drop = 0;
        while (count > 0)
        {
            ref PayloadSegment s = ref _segments[drop];
            if (count < s.Length)
            {
                s.Offset += count;
                s.Length -= count;
                break;
            }
            count -= s.Length;
            s.Chunk.Release();
            s = default;
            drop++;
        }
        if (drop > 0)
        {
            Array.Copy(_segments, drop, _segments, 0, _segmentCount - drop);
            Array.Clear(_segments, _segmentCount - drop, drop);
            _segmentCount -= drop;
        }
    }

    /// <summary>Cuts the packet to <paramref name="length"/> bytes (e.g. to the IP total length), releasing whole payload segments past it.</summary>
    public void TrimTo(int length)
    {
        CheckAlive();
        if ((uint)length > (uint)_length)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        int excess = _length - length;
        _length = length;
        while (excess > 0 && _segmentCount > 0)
        {
            ref PayloadSegment s = ref _segments[_segmentCount - 1];
            if (excess < s.Length)
            {
                s.Length -= excess;
                return;
            }
            excess -= s.Length;
            s.Chunk.Release();
            s = default;
            _segmentCount--;
        }
        _headLength -= excess;
    }

    /// <summary>
    /// Appends <paramref name="length"/> bytes of <paramref name="source"/> starting at <paramref name="offset"/>
    /// as payload segments, by reference: no byte is copied, each touched chunk gains a reference. Returns false
    /// (and changes nothing) when the segment list would exceed <see cref="MaxPayloadSegments"/>.
    /// </summary>
    public bool AppendReference(PacketBuffer source, int offset, int length)
    {
        CheckAlive();
        source.CheckAlive();
        if (offset < 0 || length < 0 || offset + length > source._length)
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }
        if (length == 0)
        {
            return true;
        }
        if (_segmentCount + source.PiecesCovering(offset, length) > MaxPayloadSegments)
        {
            return false;
        }
        int pos = 0;
        for (int i = 0; i <= source._segmentCount && length > 0; i++)
        {
            BufferChunk chunk;
            int pieceOffset, pieceLength;
            if (i == 0)
            {
                (chunk, pieceOffset, pieceLength) = (source._head!, source._headStart, source._headLength);
            }
            else
            {
                ref PayloadSegment s = ref source._segments[i - 1];
                (chunk, pieceOffset, pieceLength) = (s.Chunk, s.Offset, s.Length);
            }
            if (offset >= pos + pieceLength)
            {
                pos += pieceLength;
                continue;
            }
            int skip = offset - pos;
            int take = Math.Min(pieceLength - skip, length);
            AddSegment(chunk, pieceOffset + skip, take);
            offset += take;
            length -= take;
            pos += pieceLength;
        }
        return true;
    }

    /// <summary>Copies the whole packet into <paramref name="destination"/>, which must hold <see cref="Length"/> bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        CheckAlive();
        if (destination.Length < _length)
        {
            throw new ArgumentException("Destination too short.", nameof(destination));
        }
        _head!.Array.AsSpan(_headStart, _headLength).CopyTo(destination);
        int pos = _headLength;
        for (int i = 0; i < _segmentCount; i++)
        {
            Span<byte> s = _segments[i].Span;
            s.CopyTo(destination[pos..]);
            pos += s.Length;
        }
    }

    /// <summary>Copies bytes [<paramref name="offset"/>, <paramref name="offset"/>+<paramref name="destination"/>.Length) out of the packet.</summary>
    public void CopyTo(int offset, Span<byte> destination)
    {
        CheckAlive();
        if (offset < 0 || offset + destination.Length > _length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset));
        }
        for (int i = 0; i <= _segmentCount && !destination.IsEmpty; i++)
        {
            Span<byte> piece = GetFragment(i);
            if (offset >= piece.Length)
            {
                offset -= piece.Length;
                continue;
            }
            int take = Math.Min(piece.Length - offset, destination.Length);
            piece.Slice(offset, take).CopyTo(destination);
            destination = destination[take..];
            offset = 0;
        }
    }

    /// <summary>A new array with the packet's bytes (tests and diagnostics; allocates).</summary>
    public byte[] ToArray()
    {
        var result = new byte[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Takes one more reference; each owner releases once.</summary>
    public PacketBuffer AddRef()
    {
        int n = Interlocked.Increment(ref _refCount);
        if (n <= 1)
        {
            Interlocked.Decrement(ref _refCount);
            throw UseAfterRelease();
        }
        return this;
    }

    /// <summary>Drops one reference; the last returns the memory to the pool.</summary>
    public void Release()
    {
        int n = Interlocked.Decrement(ref _refCount);
        if (n > 0)
        {
            return;
        }
        if (n < 0)
        {
            Interlocked.Increment(ref _refCount);
            throw new InvalidOperationException("PacketBuffer released twice." + SiteSuffix());
        }
        if (_pool.Options.DebugTracking)
        {
            _lastSite = _pool.RentalSite(this);
        }
        _head!.Release();
        _head = null;
        for (int i = 0; i < _segmentCount; i++)
        {
            _segments[i].Chunk.Release();
            _segments[i] = default;
        }
        if (_segments != _inlineSegments)
        {
            _pool.ReturnSegmentList(_segments); // cleared above
            _segments = _inlineSegments;
        }
        _segmentCount = 0;
        _length = _headLength = _headStart = 0;
        _pool.ReturnBuffer(this);
    }

    /// <summary>Same as <see cref="Release"/>: lets a single owner write <c>using var p = pool.Rent(..)</c>.</summary>
    public void Dispose() => Release();

    internal void Initialize(BufferChunk head, int headroom)
    {
        _head = head;
        _headStart = headroom;
        _headLength = 0;
        _length = 0;
        _segmentCount = 0;
        NetworkProtocol = NetworkProtocol.None;
        RxChecksumValidated = false;
        Gso = default;
        SegmentsRepresented = 1;
        Volatile.Write(ref _refCount, 1);
    }

    private int PiecesCovering(int offset, int length)
    {
        int count = 0, pos = 0;
        for (int i = 0; i <= _segmentCount; i++)
        {
            int len = i == 0 ? _headLength : _segments[i - 1].Length;
            if (offset < pos + len && offset + length > pos)
            {
                count++;
            }
            pos += len;
        }
        return count;
    }

    private void AddSegment(BufferChunk chunk, int offset, int length)
    {
        if (_segmentCount == _segments.Length)
        {
            // A coalesced packet needs more: rent the room from the pool and give it back when the packet is
            // released, so pooled objects never grow for good and the steady state allocates nothing.
            PayloadSegment[] bigger = _pool.RentSegmentList(_segmentCount + 1);
            Array.Copy(_segments, bigger, _segmentCount);
            if (_segments != _inlineSegments)
            {
                Array.Clear(_segments, 0, _segmentCount);
                _pool.ReturnSegmentList(_segments);
            }
            else
            {
                Array.Clear(_inlineSegments);
            }
            _segments = bigger;
        }
        chunk.AddRef();
        _segments[_segmentCount++] = new PayloadSegment { Chunk = chunk, Offset = offset, Length = length };
        _length += length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckAlive()
    {
        if (Volatile.Read(ref _refCount) <= 0)
        {
            throw UseAfterRelease();
        }
    }

    private ObjectDisposedException UseAfterRelease() =>
        new(nameof(PacketBuffer), "PacketBuffer used after its last reference was released." + SiteSuffix());

    private string SiteSuffix()
    {
        string? site = _pool.RentalSite(this) ?? _lastSite;
        return site is null ? " Enable PacketBufferPoolOptions.DebugTracking to see where it was rented." : " Rented at:\n" + site;
    }

    private string? _lastSite; // debug mode only: where a released buffer had been rented
}
