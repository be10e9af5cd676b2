// Layer: link endpoints, Linux TUN. The reader thread: batched readv into buffers sized to what arrives, the virtio
// header judged, super-packets delivered or split, everything enqueued into the channel's GRO (through the inbound
// decorators, if any) and flushed per batch; then the ACKs that work queued are written inline.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Link.Gso;

namespace NetStack.Link.Tun;

public sealed partial class TunEndpoint
{
    private const int ReaderHeadroom = 16; // ≥ the 10-byte virtio header any reuse of the buffer may push

    private byte[] _readHeader = [];
    private PacketBuffer[] _split = [];
    private PacketBuffer? _head;
    private PacketBuffer? _spill;
    private int _headCapacity;
    private int _spillCapacity;
    private IPacketSink? _inbound; // the decorators in front of the channel's inbound side, or null
    private int _readerThreadId = -1;
    private bool _readerInBatch; // reader thread only: stack work now runs inside a read batch
    private bool _inlinePending; // reader thread only: that work queued outbound packets
    private PacketBuffer? _unhanded; // reader thread only: the packet read and not yet handed on or released

    private void InitializeReader()
    {
        _readHeader = GC.AllocateArray<byte>(VirtioNetHeader.Length, pinned: true);
        _split = new PacketBuffer[GsoSegmenter.MaxSegmentCount];
        // Buffers sized to what arrives: a packet lands in a small head (the pool's smallest class); only what
        // does not fit spills into a 64 KiB buffer, which is attached by reference and replaced, or else kept
        // for the next read. A batch of MTU-sized packets costs one small chunk each and one spare slab.
        _headCapacity = Math.Max(256, _pool.Options.SizeClasses[0] - ReaderHeadroom);
        _spillCapacity = Math.Max(_pool.MaxPooledChunkSize, 65535 + 1024);
        _inbound = _options.Inbound?.Invoke(Channel);
        if (ReferenceEquals(_inbound, Channel))
        {
            _inbound = null;
        }
    }

    private unsafe void ReadLoop()
    {
        _readerThreadId = Environment.CurrentManagedThreadId;
        PollFd* fds = stackalloc PollFd[2];
        fds[0] = new PollFd { Fd = Device.Handle.Fd, Events = LinuxNative.POLLIN };
        fds[1] = new PollFd { Fd = _wake.Fd, Events = LinuxNative.POLLIN };
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                fds[0].Revents = fds[1].Revents = 0;
                int timeout = _inbound?.TimeUntilNextDue is TimeSpan due ? (int)Math.Ceiling(due.TotalMilliseconds) : -1;
                int ready = LinuxNative.Poll(fds, 2, timeout);
                if (ready < 0)
                {
                    int errno = LinuxNative.LastError;
                    if (errno == LinuxNative.EINTR)
                    {
                        continue;
                    }
                    _logger.LogTunError("poll", Device.Name, LinuxNative.Describe(errno));
                    return;
                }
                if (fds[1].Revents != 0 || _stop.IsCancellationRequested)
                {
                    return;
                }
                if ((fds[0].Revents & (LinuxNative.POLLERR | LinuxNative.POLLHUP | LinuxNative.POLLNVAL)) != 0
                    && (fds[0].Revents & LinuxNative.POLLIN) == 0)
                {
                    _logger.LogTunError("poll", Device.Name, $"revents 0x{fds[0].Revents:x}");
                    return;
                }
                // Back to poll after each batch (reading on at once was measured: smaller batches, more sleeps and
                // wake-ups, lower throughput; BENCHMARKS.md).
                RunReaderTurn(ready > 0);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Only the loop's own plumbing is left out here (RunReaderTurn is the boundary for packets and batches).
            _logger.LogTunError("reader", Device.Name, e.ToString());
        }
    }

    /// <summary>
    /// One turn of the reader after poll: the inbound decorators' due packets (an impairment stage's delays), then a
    /// batch when the device is readable. The reader's batch boundary (docs/ARCHITECTURE.md §6): a fault costs this turn
    /// — counted, logged at most once a minute — and the reader polls again.
    /// </summary>
    private void RunReaderTurn(bool readable)
    {
        try
        {
            _inbound?.DeliverDue();
            if (readable)
            {
                ReadBatch();
            }
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            _readerInBatch = false;
            Events.Increment(TunEvent.Faults);
            _readerFaults.Report(e);
        }
    }

    /// <summary>Reads until the device is empty or a batch is full, flushes GRO, writes what the stack queued meanwhile: one batch. Returns the packets read.</summary>
    internal int ReadBatch()
    {
        _readerInBatch = _options.InlineWrites;
        int n = 0;
        while (n < _options.ReadBatchSize)
        {
            ReadResult result = ReadOne();
            if (result == ReadResult.Empty)
            {
                break;
            }
            if (result == ReadResult.Failed)
            {
                break;
            }
            n++;
        }
        if (n > 0)
        {
            FlushInbound();
            Events.Increment(TunEvent.ReadBatches);
        }
        _readerInBatch = false;
        if (_inlinePending)
        {
            WriteInline();
        }
        return n;
    }

    private enum ReadResult
    {
        Packet,
        Dropped,
        Empty,
        Failed,
    }

    private unsafe ReadResult ReadOne()
    {
        _head ??= _pool.Rent(_headCapacity, ReaderHeadroom);
        _spill ??= _pool.Rent(_spillCapacity, 0);
        bool vnet = Device.HasVnetHeader;
        IoVec* iov = stackalloc IoVec[3];
        int count = 0;
        fixed (byte* header = _readHeader)
        {
            if (vnet)
            {
                iov[count++] = new IoVec { Base = header, Length = VirtioNetHeader.Length };
            }
            Span<byte> headRoom = _head.TailroomSpan;
            Span<byte> spillRoom = _spill.TailroomSpan;
            iov[count++] = new IoVec { Base = Pointer(headRoom), Length = (nuint)headRoom.Length };
            iov[count++] = new IoVec { Base = Pointer(spillRoom), Length = (nuint)spillRoom.Length };
            nint r;
            do
            {
                r = LinuxNative.ReadV(Device.Handle.Fd, iov, count);
            }
            while (r < 0 && LinuxNative.LastError == LinuxNative.EINTR);
            if (r < 0)
            {
                int errno = LinuxNative.LastError;
                if (errno == LinuxNative.EAGAIN)
                {
                    return ReadResult.Empty;
                }
                Events.Increment(TunEvent.ReadErrors);
                _logger.LogTunError("readv", Device.Name, LinuxNative.Describe(errno));
                return ReadResult.Failed;
            }
            int length = (int)r - (vnet ? VirtioNetHeader.Length : 0);
            if (length <= 0)
            {
                Drops.Increment(TunDropReason.ShortRead);
                return ReadResult.Dropped;
            }
            PacketBuffer packet = _head;
            _head = null;
            int inHead = Math.Min(length, headRoom.Length);
            packet.Append(inHead);
            if (length > inHead)
            {
                PacketBuffer spill = _spill;
                _spill = null;
                spill.Append(length - inHead);
                bool attached = packet.AppendReference(spill, 0, length - inHead);
                spill.Release(); // the packet holds the chunk now
                if (!attached)
                {
                    packet.Release();
                    Drops.Increment(TunDropReason.ShortRead);
                    return ReadResult.Dropped;
                }
            }
            Events.Increment(TunEvent.PacketsRead);
            Events.Add(TunEvent.BytesRead, length);
            _unhanded = packet;
            try
            {
                if (vnet)
                {
                    _ = VirtioNetHeader.TryParse(_readHeader, out VirtioNetHeader vh, out _);
                    return Inbound(packet, in vh);
                }
                EnqueueInbound(packet);
                return ReadResult.Packet;
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                return OnPacketFault(e);
            }
        }
    }

    /// <summary>
    /// The reader's packet boundary: work on the packet just read threw (the virtio header's judgement, a split, a
    /// decorator). The packet is released if the reader still held it (a packet handed on belongs to its taker, and is
    /// never released twice), counted and logged with its bytes; the batch goes on.
    /// </summary>
    private ReadResult OnPacketFault(Exception e)
    {
        Events.Increment(TunEvent.Faults);
        Drops.Increment(TunDropReason.ProcessingFault);
        PacketBuffer? held = _unhanded;
        _unhanded = null;
        _readerFaults.Report(e, held);
        held?.Release();
        return ReadResult.Dropped;
    }

    private ReadResult Inbound(PacketBuffer packet, in VirtioNetHeader header)
    {
        TunDropReason reason = VirtioInbound.Prepare(packet, in header, (Device.Offloads & TunOffloads.Uso4) != 0, _options.TrustKernelChecksums);
        if (reason != TunDropReason.None)
        {
            Drops.Increment(reason);
            _unhanded = null;
            packet.Release();
            return ReadResult.Dropped;
        }
        if (packet.RxChecksumValidated)
        {
            Events.Increment(TunEvent.ChecksumsTrusted);
        }
        else if ((header.Flags & VirtioNetFlags.NeedsChecksum) != 0)
        {
            Events.Increment(TunEvent.ChecksumsCompleted);
        }
        if (!packet.Gso.IsGso)
        {
            EnqueueInbound(packet);
            return ReadResult.Packet;
        }
        Events.Increment(TunEvent.GsoPacketsRead);
        if (packet.Gso.Type == GsoType.UdpL4 || _options.InboundGso == InboundGsoMode.Split)
        {
            return SplitInbound(packet);
        }
        EnqueueInbound(packet);
        return ReadResult.Packet;
    }

    private ReadResult SplitInbound(PacketBuffer packet)
    {
        int count;
        bool trusted = packet.RxChecksumValidated;
        bool ok = packet.Gso.Type == GsoType.UdpL4
            ? UdpGsoSplitter.TrySplit(packet, _pool, _split, out count)
            : GsoSegmenter.TrySplit(packet, _pool, _split, out count, out _);
        _unhanded = null;
        packet.Release();
        if (!ok)
        {
            Drops.Increment(TunDropReason.SplitFailed);
            return ReadResult.Dropped;
        }
        Events.Increment(TunEvent.GsoPacketsSplit);
        for (int i = 0; i < count; i++)
        {
            PacketBuffer segment = _split[i];
            _split[i] = null!;
            segment.RxChecksumValidated = trusted; // fresh checksums over data the kernel vouched for
            EnqueueInbound(segment);
        }
        return ReadResult.Packet;
    }

    /// <summary>One packet to the channel's GRO, through the inbound decorators when there are any.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnqueueInbound(PacketBuffer packet)
    {
        _unhanded = null; // the taker owns it from here, whatever happens inside
        if (_inbound is null)
        {
            Channel.EnqueueGro(packet);
        }
        else
        {
            _inbound.Enqueue(packet);
        }
    }

    private void FlushInbound()
    {
        if (_inbound is null)
        {
            Channel.FlushGro();
        }
        else
        {
            _inbound.Flush();
        }
    }

    private void ReleaseReaderBuffers()
    {
        _head?.Release();
        _head = null;
        _spill?.Release();
        _spill = null;
        (_inbound as IDisposable)?.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe byte* Pointer(Span<byte> pinned) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(pinned)); // pool chunks live on the POH
}
