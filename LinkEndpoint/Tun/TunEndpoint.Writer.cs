// Layer: link endpoints, Linux TUN. The write path: batched drains of the channel's outbound queue (through the outbound
// decorators, if any), ACK filtering, TCP and UDP GRO on write, one writev of virtio header + pieces per packet.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Checksums;
using NetStack.Gro;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Wire;

namespace NetStack.Link.Tun;

public sealed partial class TunEndpoint
{
    private const int MaxIovecs = PacketBuffer.MaxPayloadSegments + 2;

    private PacketBuffer[] _writeBatch = [];
    private readonly WriterSignal _writerSignal = new();
    private int _writeTurn;
    private PacketBuffer[] _writeOut = [];
    private int _writeOutCount;
    private TcpGro? _writeGro;
    private byte[] _writeHeader = [];
    private byte[] _scratch = [];
    private readonly AtomicIdRenumberer _atomicIds = new();
    private AckFilter? _ackFilter;
    private UdpWriteCoalescer? _udpGro;
    private IPacketSink? _outbound; // the decorators in front of the device writer, or null
    private DeviceSink? _deviceSink;

    private void InitializeWriter()
    {
        _writeBatch = new PacketBuffer[_options.WriteBatchSize];
        _writeOut = new PacketBuffer[_options.WriteBatchSize];
        _writeHeader = GC.AllocateArray<byte>(VirtioNetHeader.Length, pinned: true);
        // One flat buffer for the software path (no virtio header, or a packet the kernel cannot take whole).
        _scratch = GC.AllocateArray<byte>(VirtioNetHeader.Length + 65536, pinned: true);
        if (TcpGroOnWrite)
        {
            // The kernel's GRO rules are the ones TcpGro applies (ARCHITECTURE.md §4); its output packets carry GsoOptions
            // and a partial checksum, which is what a virtio GSO header describes.
            _writeGro = new TcpGro(new GroOptions { Name = _options.Name + "-write", MaxFlows = 64 }, CollectWritten);
        }
        if (UdpGroOnWrite)
        {
            _udpGro = new UdpWriteCoalescer(CollectWritten);
        }
        if (_options.Outbound is { } decorate)
        {
            _deviceSink = new DeviceSink(this, _options.WriteBatchSize);
            _outbound = decorate(_deviceSink);
        }
        if (_options.AckFilter)
        {
            _ackFilter = new AckFilter();
        }
        Channel.OutboundQueued = OnOutboundQueued;
    }

    /// <summary>The write-side GRO engine (its events and flush reasons), or null when GRO on write is off.</summary>
    public TcpGro? WriteGro => _writeGro;

    /// <summary>
    /// The writer loop: waits on <see cref="_writerSignal"/> (set by <see cref="OnOutboundQueued"/> for packets other
    /// threads queue, and by the reader when it leaves some), then drains the queue in batches while it holds the
    /// write turn. With outbound decorators that hold packets (an impairment stage) it also wakes when one falls due.
    /// </summary>
    private async Task WriteLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            Task? pending = null;
            while (!cancellationToken.IsCancellationRequested)
            {
                if (_outbound?.TimeUntilNextDue is TimeSpan due)
                {
                    // Held (delayed, reordered) packets are due before anything new may arrive: wait for whichever comes first.
                    pending ??= _writerSignal.WaitAsync().AsTask();
                    if (await Task.WhenAny(pending, Task.Delay(due + TimeSpan.FromMilliseconds(1), cancellationToken)).ConfigureAwait(false) != pending)
                    {
                        DeliverDueOutbound();
                        continue;
                    }
                    pending = null;
                }
                else if (pending is not null)
                {
                    await pending.ConfigureAwait(false);
                    pending = null;
                }
                else
                {
                    await _writerSignal.WaitAsync().ConfigureAwait(false);
                }
                if (cancellationToken.IsCancellationRequested || Channel.IsClosed)
                {
                    break;
                }
                DrainOutbound(int.MaxValue);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Only the loop's own plumbing is left out here (the drains and due deliveries are boundaries of their own).
            _logger.LogTunError("writer", Device.Name, e.ToString());
        }
    }

    /// <summary>
    /// A fault on the write path (a batch, a decorator, a due delivery): counted and logged at most once a minute; the
    /// packets of <paramref name="leftovers"/> not yet taken are released and counted as dropped. The loop goes on.
    /// </summary>
    private void OnWriterFault(Exception e, Span<PacketBuffer> leftovers)
    {
        Events.Increment(TunEvent.Faults);
        _writerFaults.Report(e);
        for (int i = 0; i < leftovers.Length; i++)
        {
            if (leftovers[i] is { } packet)
            {
                leftovers[i] = null!;
                packet.Release();
                Drops.Increment(TunDropReason.ProcessingFault);
            }
        }
    }

    /// <summary>
    /// Drains up to <paramref name="maxPackets"/> queued packets (at least one batch) if this thread gets the write
    /// turn; false when another thread holds it (it drains until the queue is empty, then checks again after
    /// giving the turn back). One thread writes at a time, so the device sees the queue's order, and the write
    /// path's state (GRO on write, scratch buffers) has one user. The turn is a flag taken with one compare-and-swap,
    /// never waited for: no thread blocks on it.
    /// </summary>
    private bool DrainOutbound(int maxPackets)
    {
        if (Interlocked.CompareExchange(ref _writeTurn, 1, 0) != 0)
        {
            return false;
        }
        try
        {
            int written = 0, n;
            while ((n = Channel.ReadBatch(_writeBatch)) > 0)
            {
                if (_outbound is { } decorators)
                {
                    try
                    {
                        for (int i = 0; i < n; i++)
                        {
                            PacketBuffer packet = _writeBatch[i];
                            _writeBatch[i] = null!; // the decorator's from here, whatever it does
                            decorators.Enqueue(packet);
                        }
                        decorators.Flush();
                    }
                    catch (Exception e) when (FaultLog.Catches(e))
                    {
                        OnWriterFault(e, _writeBatch.AsSpan(0, n));
                    }
                }
                else
                {
                    WriteBatch(_writeBatch.AsSpan(0, n));
                }
                written += n;
                if (written >= maxPackets)
                {
                    break;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _writeTurn, 0);
        }
        return true;
    }

    private void DeliverDueOutbound()
    {
        if (Interlocked.CompareExchange(ref _writeTurn, 1, 0) != 0)
        {
            _writerSignal.Set(); // come back once the reader is done
            return;
        }
        try
        {
            _outbound!.DeliverDue();
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnWriterFault(e, []);
        }
        finally
        {
            Volatile.Write(ref _writeTurn, 0);
        }
    }

    /// <summary>
    /// <see cref="ChannelEndpoint.OutboundQueued"/>: on the reader thread inside a read batch, only notes that the
    /// batch must end with a write (<see cref="WriteInline"/>); anywhere else, wakes the writer loop.
    /// </summary>
    private void OnOutboundQueued()
    {
        if (_readerInBatch && Environment.CurrentManagedThreadId == _readerThreadId)
        {
            _inlinePending = true;
            return;
        }
        _writerSignal.Set();
    }

    /// <summary>
    /// End of a read batch that queued packets (ACKs, and data the ACKs released): the reader writes them itself,
    /// in queue order, up to <see cref="TunEndpointOptions.InlineWriteLimit"/> packets; whatever is left (or
    /// everything, when the writer loop holds the turn) goes to the writer loop.
    /// </summary>
    private void WriteInline()
    {
        _inlinePending = false;
        if (!DrainOutbound(_options.InlineWriteLimit))
        {
            _writerSignal.Set();
            return;
        }
        Events.Increment(TunEvent.InlineWrites);
        if (Channel.NumQueued > 0)
        {
            _writerSignal.Set(); // queued by another thread while we wrote, or beyond the limit
        }
    }

    /// <summary>
    /// Writes a batch drained from the outbound queue (GRO on write first, when on); releases every packet. The write
    /// path's batch boundary (docs/ARCHITECTURE.md §6): a fault costs the packets of the batch not yet taken.
    /// </summary>
    internal void WriteBatch(Span<PacketBuffer> batch)
    {
        try
        {
            WriteBatchCore(batch);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnWriterFault(e, batch);
        }
    }

    private void WriteBatchCore(Span<PacketBuffer> batch)
    {
        Events.Increment(TunEvent.WriteBatches);
        if (_ackFilter is not null)
        {
            int kept = _ackFilter.Apply(batch);
            if (kept != batch.Length)
            {
                Events.Add(TunEvent.AcksFiltered, batch.Length - kept);
                batch = batch[..kept];
            }
        }
        TcpGro? tcp = TcpGroOnWrite ? _writeGro : null;
        UdpWriteCoalescer? udp = UdpGroOnWrite ? _udpGro : null;
        if (tcp is null && udp is null)
        {
            for (int i = 0; i < batch.Length; i++)
            {
                PacketBuffer packet = batch[i];
                batch[i] = null!;
                WriteAndRelease(packet);
            }
            return;
        }
        _writeOutCount = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            PacketBuffer packet = batch[i];
            batch[i] = null!;
            if (packet.Gso.IsGso)
            {
                // Already a super-segment: what GRO holds of any flow goes first, so a flow stays in order.
                tcp?.Flush();
                udp?.Flush();
                DrainWritten();
                WriteAndRelease(packet);
                continue;
            }
            if (udp is not null && UdpWriteCoalescer.IsCandidate(packet))
            {
                udp.Add(packet);
            }
            else if (tcp is not null)
            {
                // Our own packets carry correct (full or partial) checksums: mark them so GRO may merge them.
                packet.RxChecksumValidated = true;
                long renumbered = _atomicIds.Renumbered;
                _atomicIds.Apply(packet);
                if (_atomicIds.Renumbered != renumbered)
                {
                    Events.Increment(TunEvent.IdsRenumbered);
                }
                tcp.Enqueue(packet);
            }
            else
            {
                CollectWritten(packet);
            }
            if (_writeOutCount == _writeOut.Length)
            {
                DrainWritten();
            }
        }
        tcp?.Flush();
        udp?.Flush();
        DrainWritten();
    }

    private void CollectWritten(PacketBuffer packet)
    {
        if (_writeOutCount == _writeOut.Length)
        {
            DrainWritten();
        }
        if (packet.SegmentsRepresented > 1)
        {
            Events.Add(TunEvent.WriteGroMerged, packet.SegmentsRepresented - 1);
        }
        _writeOut[_writeOutCount++] = packet;
    }

    private void DrainWritten()
    {
        for (int i = 0; i < _writeOutCount; i++)
        {
            PacketBuffer packet = _writeOut[i];
            _writeOut[i] = null!;
            WriteAndRelease(packet);
        }
        _writeOutCount = 0;
    }

    private void WriteAndRelease(PacketBuffer packet)
    {
        try
        {
            WritePacket(packet);
        }
        finally
        {
            packet.Release();
        }
    }

    /// <summary>Writes one packet: virtio header + pieces in one writev, or the software path.</summary>
    internal void WritePacket(PacketBuffer packet)
    {
        if (!Device.HasVnetHeader)
        {
            if (packet.Gso.IsGso || packet.Gso.NeedsChecksum)
            {
                WriteSoftware(packet);
            }
            else
            {
                WriteGather(packet, header: null);
            }
            return;
        }
        var header = default(VirtioNetHeader);
        if (packet.Gso.IsGso || packet.Gso.NeedsChecksum)
        {
            if (!TryBuildHeader(packet, out header))
            {
                WriteSoftware(packet);
                return;
            }
        }
        WriteGather(packet, header);
    }

    /// <summary>
    /// The virtio header for a packet with offload metadata, checked against the packet: hdr_len recomputed
    /// from csum_start and the TCP data offset (or the UDP header), the checksum field in the head. False when
    /// the kernel cannot take it whole (a super-segment with a full checksum, UDP GSO without USO, bad
    /// metadata): it then goes the software way.
    /// </summary>
    private bool TryBuildHeader(PacketBuffer packet, out VirtioNetHeader header)
    {
        GsoOptions gso = packet.Gso;
        header = VirtioNetHeader.FromGso(in gso);
        ReadOnlySpan<byte> head = packet.Head;
        int start = gso.ChecksumStart;
        if (!gso.NeedsChecksum || start + gso.ChecksumOffset + 2 > head.Length || head.IsEmpty)
        {
            return false;
        }
        if (!gso.IsGso)
        {
            return true;
        }
        int version = head[0] >> 4;
        switch (gso.Type)
        {
            case GsoType.TcpV4 when version == 4:
            case GsoType.TcpV6 when version == 6:
                if (gso.ChecksumOffset != TcpHeader.ChecksumOffset || head.Length < start + TcpHeader.MinLength)
                {
                    return false;
                }
                header.HeaderLength = (ushort)(start + TcpHeader.GetHeaderLength(head[start..]));
                break;
            case GsoType.UdpL4 when (Device.Offloads & TunOffloads.Uso4) != 0:
                header.HeaderLength = (ushort)(start + UdpHeader.HeaderLength);
                break;
            default:
                return false;
        }
        if (header.HeaderLength > head.Length || gso.MaxSegmentSize == 0)
        {
            return false;
        }
        return true;
    }

    private unsafe void WriteGather(PacketBuffer packet, VirtioNetHeader? header)
    {
        IoVec* iov = stackalloc IoVec[MaxIovecs];
        int count = 0;
        int bytes = packet.Length;
        int segments = header is { GsoSize: > 0 } g && g.GsoType != VirtioGsoType.None
            ? Math.Max(1, (bytes - g.HeaderLength + g.GsoSize - 1) / g.GsoSize)
            : 1;
        int fragments = packet.FragmentCount;
        int first = 0;
        fixed (byte* scratchHeader = _writeHeader)
        {
            if (header is { } h)
            {
                if (packet.ReferenceCount == 1 && packet.Headroom >= VirtioNetHeader.Length)
                {
                    // The header goes into the headroom kept for it: header and packet headers are one piece.
                    h.Emit(packet.Prepend(VirtioNetHeader.Length));
                }
                else
                {
                    // Shared packet (another owner may read its head): the header is a piece of its own.
                    h.Emit(_writeHeader);
                    iov[count++] = new IoVec { Base = scratchHeader, Length = VirtioNetHeader.Length };
                }
            }
            for (int i = first; i < fragments; i++)
            {
                Span<byte> piece = packet.GetFragment(i);
                if (!piece.IsEmpty)
                {
                    iov[count++] = new IoVec { Base = Pointer(piece), Length = (nuint)piece.Length };
                }
            }
            if (Submit(iov, count))
            {
                Events.Increment(TunEvent.PacketsWritten);
                Events.Add(TunEvent.BytesWritten, bytes);
                if (segments > 1 || packet.Gso.IsGso)
                {
                    Events.Increment(TunEvent.GsoPacketsWritten);
                }
                Events.Add(TunEvent.SegmentsWritten, segments);
            }
        }
    }

    /// <summary>Segments (or completes the checksum of) a packet in software, one copy per segment into the scratch buffer.</summary>
    private unsafe void WriteSoftware(PacketBuffer packet)
    {
        int offset = Device.HasVnetHeader ? VirtioNetHeader.Length : 0;
        Span<byte> scratch = _scratch;
        scratch[..offset].Clear(); // an all-zero virtio header: nothing to do for the kernel
        if (!GsoSegmenter.TryGetSegmentCount(packet, out int segments, out _))
        {
            Drops.Increment(TunDropReason.BadOutboundGso);
            return;
        }
        if (packet.Gso.IsGso)
        {
            Events.Increment(TunEvent.SoftwareSegmented);
        }
        fixed (byte* buffer = _scratch)
        {
            for (int i = 0; i < segments; i++)
            {
                if (!GsoSegmenter.TryWriteSegment(packet, i, scratch[offset..], out int written, out _))
                {
                    Drops.Increment(TunDropReason.BadOutboundGso);
                    return;
                }
                if (!packet.Gso.IsGso && packet.Gso.NeedsChecksum && !CompleteChecksum(scratch.Slice(offset, written), packet.Gso))
                {
                    Drops.Increment(TunDropReason.BadOutboundGso);
                    return;
                }
                var iov = new IoVec { Base = buffer, Length = (nuint)(offset + written) };
                if (Submit(&iov, 1))
                {
                    Events.Increment(TunEvent.PacketsWritten);
                    Events.Increment(TunEvent.SegmentsWritten);
                    Events.Add(TunEvent.BytesWritten, written);
                }
            }
        }
    }

    /// <summary>Completes a partial (pseudo-header) checksum in a flat packet (RFC 1071).</summary>
    private static bool CompleteChecksum(Span<byte> packet, in GsoOptions gso)
    {
        int start = gso.ChecksumStart;
        int field = start + gso.ChecksumOffset;
        if (field + 2 > packet.Length)
        {
            return false;
        }
        ushort checksum = InternetChecksum.Finish(InternetChecksum.Sum(packet[start..]));
        bool udp = gso.ChecksumOffset == UdpHeader.ChecksumOffset;
        BinaryPrimitives.WriteUInt16BigEndian(packet[field..], udp && checksum == 0 ? (ushort)0xFFFF : checksum);
        return true;
    }

    /// <summary>
    /// One non-blocking writev, retried only on EINTR. A full device (EAGAIN) drops the packet at once
    /// (<see cref="TunDropReason.DeviceFull"/>, logged at most once a minute): Linux tail-drops at a full transmit
    /// queue rather than stall whoever sends, and TCP recovers the loss. Never waits: this runs on the reader thread
    /// (inline writes) and on the writer loop, and neither may block (docs/ARCHITECTURE.md §5). Counts failures.
    /// </summary>
    private unsafe bool Submit(IoVec* iov, int count)
    {
        while (true)
        {
            nint r = LinuxNative.WriteV(Device.Handle.Fd, iov, count);
            if (r >= 0)
            {
                return true;
            }
            int errno = LinuxNative.LastError;
            if (errno == LinuxNative.EINTR)
            {
                continue;
            }
            _lastWriteError = errno;
            if (errno == LinuxNative.EAGAIN)
            {
                Drops.Increment(TunDropReason.DeviceFull);
                _deviceFull.Hit();
                return false;
            }
            Drops.Increment(errno == LinuxNative.EINVAL ? TunDropReason.WriteRejected : TunDropReason.WriteFailed);
            return false;
        }
    }

    private int _lastWriteError;

    private void ReleaseWriterBuffers()
    {
        (_outbound as IDisposable)?.Dispose();
        _deviceSink?.Clear();
        _writeGro?.Flush(); // anything held goes to _writeOut, released below unwritten
        _udpGro?.Flush();
        for (int i = 0; i < _writeOutCount; i++)
        {
            _writeOut[i]?.Release();
            _writeOut[i] = null!;
        }
        _writeOutCount = 0;
        for (int i = 0; i < _writeBatch.Length; i++)
        {
            _writeBatch[i]?.Release();
            _writeBatch[i] = null!;
        }
    }

    /// <summary>Where the outbound decorators deliver: a batch for <see cref="WriteBatch"/> at each flush.</summary>
    private sealed class DeviceSink(TunEndpoint owner, int capacity) : IPacketSink
    {
        private readonly PacketBuffer[] _batch = new PacketBuffer[capacity];
        private int _count;

        public void Enqueue(PacketBuffer packet)
        {
            if (_count == _batch.Length)
            {
                Flush();
            }
            _batch[_count++] = packet;
        }

        public void Flush()
        {
            if (_count > 0)
            {
                int count = _count;
                _count = 0;
                owner.WriteBatch(_batch.AsSpan(0, count)); // takes or releases every one, even on a fault
            }
        }

        public void Clear()
        {
            for (int i = 0; i < _count; i++)
            {
                _batch[i].Release();
                _batch[i] = null!;
            }
            _count = 0;
        }
    }
}
