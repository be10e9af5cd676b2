// Layer: simulated links. One direction of a wire: a source's packets pumped into a chain of sinks (impairment,
// capture, tracer, the receiving endpoint), super-segments split into wire segments on the way when asked.
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Link.Gso;

namespace NetStack.Link.Simulation;

/// <summary>
/// One direction of a <see cref="PipeLink"/>: a source pumped into a sink, through an optional impairment stage. The pump
/// is an exception boundary (docs/ARCHITECTURE.md §6): whatever a sink throws on a packet, or on a due delivery or a
/// flush, costs that packet or that step (<see cref="Faults"/>), never the pump.
/// </summary>
public sealed class PipeLinkDirection
{
    private readonly PacketBuffer[] _batch;
    private readonly int _maxBatches;
    private readonly IPacketSink _entry;
    private PacketBuffer[]? _segments; // scratch for splitting super-segments, made on first use
    private volatile bool _splitGso;
    private long _packetsRead;
    private long _superSegmentsSplit;
    private long _splitFailures;
    private long _faults;
    private readonly FaultLog _faultLog;

    internal PipeLinkDirection(IPacketSource source, IPacketSink sink, ImpairmentStage? impairment, int batchSize, int maxBatches, bool splitGso, FaultLog faults)
    {
        _faultLog = faults;
        Source = source;
        Sink = sink;
        Impairment = impairment;
        _entry = (IPacketSink?)impairment ?? sink;
        _batch = new PacketBuffer[batchSize];
        _maxBatches = maxBatches;
        _splitGso = splitGso;
    }

    /// <summary>True when super-segments are split into wire segments before the impairment stage.</summary>
    public bool SplitsGso
    {
        get => _splitGso;
        internal set => _splitGso = value;
    }

    /// <summary>Super-segments split into wire segments.</summary>
    public long SuperSegmentsSplit => Interlocked.Read(ref _superSegmentsSplit);

    /// <summary>Super-segments that could not be split (malformed GSO metadata) and were dropped.</summary>
    public long SplitFailures => Interlocked.Read(ref _splitFailures);

    /// <summary>Exceptions caught while pumping (a sink that threw on a packet, a due delivery or a flush); the pump went on.</summary>
    public long Faults => Interlocked.Read(ref _faults);

    /// <summary>Where packets come from.</summary>
    public IPacketSource Source { get; }

    /// <summary>Where packets go (the receiving endpoint, or the first of the decorators in front of it).</summary>
    public IPacketSink Sink { get; }

    /// <summary>The impairment stage the link put between them, or null for a perfect wire.</summary>
    public ImpairmentStage? Impairment { get; }

    /// <summary>Packets taken from the source.</summary>
    public long PacketsRead => Interlocked.Read(ref _packetsRead);

    /// <summary>The source reported that it is closed and drained.</summary>
    public bool SourceCompleted { get; internal set; }

    /// <summary>A pending wait on the source (used by <see cref="PipeLink.RunAsync"/> only).</summary>
    internal Task<bool>? PendingWait { get; set; }

    /// <summary>Packets held by the impairment stage.</summary>
    internal int Held => Impairment?.HeldCount ?? 0;

    /// <summary>When the next packet held anywhere along the direction falls due, or null when none is held.</summary>
    internal TimeSpan? TimeUntilNextDue => _entry.TimeUntilNextDue;

    /// <summary>Moves what is ready: reads up to the batch limit, releases due packets, ends the sink's batch. Returns packets read plus packets released from delay.</summary>
    internal int Pump()
    {
        int read = 0;
        for (int b = 0; b < _maxBatches; b++)
        {
            Span<PacketBuffer> batch = _batch;
            int n = Source.ReadBatch(batch);
            Forward(n);
            read += n;
            if (n < batch.Length)
            {
                break;
            }
        }
        if (read > 0)
        {
            Interlocked.Add(ref _packetsRead, read);
        }
        // Held packets that fell due go now (ending their batch), then the batch read here ends: a flush with nothing
        // new behind it is a no-op, so the order of the two never changes what the receiver sees.
        int released = 0;
        try
        {
            released = _entry.DeliverDue();
            if (read > 0)
            {
                _entry.Flush();
            }
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            OnFault(e);
        }
        return read + released;
    }

    private void OnFault(Exception e)
    {
        Interlocked.Increment(ref _faults);
        _faultLog.Report(e);
    }

    /// <summary>Releases every packet the direction holds (the impairment stage's heap); the source keeps its own.</summary>
    internal void ReleaseInFlight() => Impairment?.Clear();

    /// <summary>Splits a super-segment into wire segments (a NIC's TSO) or hands it over whole (a veth pair); takes the reference.</summary>
    private void ForwardSuperSegment(PacketBuffer packet)
    {
        if (!_splitGso)
        {
            if (packet.Gso.NeedsChecksum)
            {
                packet.RxChecksumValidated = true; // CHECKSUM_PARTIAL across memory: nothing can have changed it
            }
            _entry.Enqueue(packet);
            return;
        }
        PacketBuffer[] segments = _segments ??= new PacketBuffer[GsoSegmenter.MaxSegmentCount];
        bool split = GsoSegmenter.TrySplit(packet, packet.Pool, segments, out int count, out _);
        packet.Release();
        if (!split)
        {
            Interlocked.Increment(ref _splitFailures);
            return;
        }
        Interlocked.Increment(ref _superSegmentsSplit);
        for (int i = 0; i < count; i++)
        {
            PacketBuffer segment = segments[i];
            segments[i] = null!;
            _entry.Enqueue(segment);
        }
    }

    private void Forward(int n)
    {
        for (int i = 0; i < n; i++)
        {
            PacketBuffer p = _batch[i];
            _batch[i] = null!;
            try
            {
                if (p.Gso.IsGso)
                {
                    ForwardSuperSegment(p);
                }
                else
                {
                    _entry.Enqueue(p);
                }
            }
            catch (Exception e) when (FaultLog.Catches(e))
            {
                OnFault(e); // the packet belongs to the sink that threw: never released twice
            }
        }
    }
}
