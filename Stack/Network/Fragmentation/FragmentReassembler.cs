using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Wire;

namespace NetStack.Network.Fragmentation;

/// <summary>
/// Reassembles IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) fragments without copying payload: held
/// fragments stay in their own buffers and the datagram is a new <see cref="PacketBuffer"/> whose head holds
/// the first fragment's header (fixed up) and whose payload references each fragment's data.
/// <para>Policy, for both versions: any overlap between fragments discards the whole datagram and quarantines
/// its key for <see cref="ReassemblyOptions.QuarantineTime"/>, so its later fragments are dropped too
/// (RFC 5722 §4; applied to IPv4 as well, which also defeats the RFC 1858 overlapping-fragment attacks). An
/// exact duplicate (same offset, length and M flag) is tolerated: the copy is dropped and counted, the first
/// copy's bytes are kept (RFC 8200 §4.5 allows this). A fragment other than the last must carry a multiple of 8
/// bytes (RFC 8200 §4.5; also applied to IPv4, where anything else cannot be followed contiguously).
/// IPv6 first fragments must hold the whole header chain up to the upper-layer header (RFC 7112 §5); IPv4
/// first fragments are not held to this, since RFC 791 §3.2 lets a 68-byte MTU cut the transport header.
/// DF on an IPv4 fragment is ignored (it is about sending). An IPv6 atomic fragment (offset 0, M clear) is
/// returned at once without its fragment header and never touches reassembly state (RFC 6946 §4).</para>
/// <para>Limits: memory is charged as the pooled memory each held fragment pins (see
/// <see cref="ReassemblyOptions.MaxBytes"/>), and a fragment pinning far more than its size is copied first.
/// Each source address has a quota (<see cref="ReassemblyOptions.MaxBytesPerSource"/>,
/// <see cref="ReassemblyOptions.MaxDatagramsPerSource"/>): past it the source loses its own oldest datagrams.
/// When the whole budget (<see cref="ReassemblyOptions.MaxBytes"/>, <see cref="ReassemblyOptions.MaxDatagrams"/>)
/// is full, the oldest datagrams of the source holding the most are evicted (counted as
/// <see cref="ReassemblyDropReason.Evicted"/>): a flood from a few sources costs those sources, and a flood from
/// many costs the oldest datagrams of the heaviest, rather than blocking every new one until it times out. Time comes only from the <see cref="TimeProvider"/>:
/// the driver calls <see cref="ExpireDue()"/>, and every <see cref="Process"/> expires what is due first.</para>
/// <para>Not thread-safe: one driver calls it (ARCHITECTURE.md §5). No input bytes make it throw.</para>
/// </summary>
internal sealed partial class FragmentReassembler : IDisposable
{
    /// <summary>Bytes charged per held fragment on top of the chunks it references (its buffer object and bookkeeping).</summary>
    public const int PerFragmentOverhead = 64;

    private static readonly Meter s_meter = StackMeters.Fragmentation;

    private readonly TimeProvider _time;
    private readonly ReassemblyOptions _options;
    private readonly FragmentErrorHandler? _errorHandler;
    private readonly Dictionary<FragmentKey, ReassemblyContext> _contexts;
    private readonly Stack<ReassemblyContext> _free;
    private readonly KeyQuarantine _quarantine;
    private readonly Dictionary<SourceKey, SourceUsage> _sources;
    private readonly Stack<SourceUsage> _freeSources;
    private readonly ReassemblyContext?[] _oldest = new ReassemblyContext?[2]; // per version: [0] IPv4, [1] IPv6
    private readonly ReassemblyContext?[] _newest = new ReassemblyContext?[2];
    private readonly long[] _timeoutTicks = new long[2];
    private readonly long[] _quarantineTicks = new long[2];
    private long _bytesHeld;
    private int _fragmentsHeld;
    private bool _disposed;

    /// <summary>
    /// Creates a reassembler that reads time from <paramref name="timeProvider"/> and, when
    /// <paramref name="errorHandler"/> is given, reports the packets the stack should answer with an ICMP error.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (a configuration error).</exception>
    public FragmentReassembler(TimeProvider timeProvider, ReassemblyOptions? options = null, FragmentErrorHandler? errorHandler = null, KeyValuePair<string, object?>[]? tags = null)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
        _options = options ?? new ReassemblyOptions();
        _errorHandler = errorHandler;
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBytes, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxDatagrams, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxFragmentsPerDatagram, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(_options.MaxQuarantinedKeys, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBytesPerSource, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxDatagramsPerSource, 1, nameof(options));
        _timeoutTicks[0] = ToTicks(_options.Ipv4Timeout);
        _timeoutTicks[1] = ToTicks(_options.Ipv6Timeout);
        if (_options.QuarantineTime is { } quarantine)
        {
            // Zero turns the quarantine off (discard on overlap only).
            ArgumentOutOfRangeException.ThrowIfLessThan(quarantine, TimeSpan.Zero, nameof(options));
            _quarantineTicks[0] = _quarantineTicks[1] = quarantine == TimeSpan.Zero ? 0 : ToTicks(quarantine);
        }
        else
        {
            _quarantineTicks[0] = _timeoutTicks[0];
            _quarantineTicks[1] = _timeoutTicks[1];
        }
        int initial = Math.Min(_options.MaxDatagrams, 64);
        _contexts = new Dictionary<FragmentKey, ReassemblyContext>(initial);
        _free = new Stack<ReassemblyContext>(initial);
        _sources = new Dictionary<SourceKey, SourceUsage>(initial);
        _freeSources = new Stack<SourceUsage>(initial);
        _quarantine = new KeyQuarantine(_options.MaxQuarantinedKeys);
        Drops = new ReasonCounters<ReassemblyDropReason>(s_meter, "netstack.network.reassembly.drops", "Fragments dropped by reassembly, by reason", tags, "{fragment}");
        Events = new ReasonCounters<ReassemblyEvent>(s_meter, "netstack.network.reassembly.events", "Reassembly events", tags, "{event}");
    }

    /// <summary>The limits in force.</summary>
    public ReassemblyOptions Options => _options;

    /// <summary>Fragments dropped, by reason (one count per fragment, held or new).</summary>
    public ReasonCounters<ReassemblyDropReason> Drops { get; }

    /// <summary>Events: fragments held, datagrams completed, timed out, evicted, discarded, …</summary>
    public ReasonCounters<ReassemblyEvent> Events { get; }

    /// <summary>Memory charged for the fragments held now (never above <see cref="ReassemblyOptions.MaxBytes"/>).</summary>
    public long BytesHeld => _bytesHeld;

    /// <summary>Datagrams being reassembled now.</summary>
    public int DatagramsInFlight => _contexts.Count;

    /// <summary>Fragments held now.</summary>
    public int FragmentsHeld => _fragmentsHeld;

    /// <summary>Source addresses with at least one datagram in reassembly.</summary>
    public int SourcesHeld => _sources.Count;

    /// <summary>Memory charged to the fragments of <paramref name="source"/> (0 when it holds none).</summary>
    public long BytesHeldBy(NetAddress source) =>
        _sources.TryGetValue(new SourceKey(source.Value, source.IsV4 ? (byte)4 : (byte)6), out SourceUsage? usage) ? usage.Bytes : 0;

    /// <summary>Keys remembered after an overlap (RFC 5722), bounded by <see cref="ReassemblyOptions.MaxQuarantinedKeys"/>.</summary>
    public int QuarantinedKeys => _quarantine.Count;

    /// <summary>
    /// Takes one IP packet (starting at its IPv4 or IPv6 header) and ownership of the caller's reference to it:
    /// the reassembler holds it, releases it, or hands it back inside the result, so the caller must not use
    /// or release it after the call. Returns <see cref="ReassemblyStatus.Held"/>,
    /// <see cref="ReassemblyStatus.Completed"/> with the datagram (one reference for the caller: its head holds
    /// the first fragment's header with total/payload length fixed and fragmentation removed,
    /// <see cref="PacketBuffer.NetworkProtocol"/> set and <see cref="PacketBuffer.RxChecksumValidated"/> false),
    /// or <see cref="ReassemblyStatus.Dropped"/> with a counted reason. A packet that is not a fragment comes
    /// back as <see cref="ReassemblyStatus.Completed"/> unchanged. The IPv4 header checksum is not checked here
    /// (the stack's IPv4 input does it first).
    /// </summary>
    public ReassemblyResult Process(PacketBuffer fragment)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        if (_disposed)
        {
            return Drop(fragment, ReassemblyDropReason.Shutdown, notify: false);
        }
        long now = _time.GetTimestamp();
        ExpireDue(now);

        ReassemblyDropReason reason = Parse(fragment, out ParsedFragment f);
        if (reason != ReassemblyDropReason.None)
        {
            // RFC 8200 §4.5 and RFC 7112 §5: these ask for an ICMPv6 Parameter Problem about the offending fragment.
            bool notify = f.Key.Version == 6
                && reason is ReassemblyDropReason.NotMultipleOf8 or ReassemblyDropReason.TooLong or ReassemblyDropReason.IncompleteHeaderChain;
            return Drop(fragment, reason, notify);
        }
        if (f.IsNotFragment)
        {
            fragment.NetworkProtocol = f.Key.Version == 4 ? NetworkProtocol.IPv4 : NetworkProtocol.IPv6;
            Events.Increment(ReassemblyEvent.NotAFragment);
            return ReassemblyResult.Completed(fragment);
        }
        if (f.IsAtomic)
        {
            return CompleteAtomic(fragment, f);
        }
        return Insert(fragment, f, now);
    }

    /// <summary>
    /// Frees every datagram whose timeout has passed (releasing its fragments, reporting its offset-0 fragment
    /// to the error handler if it had arrived) and forgets quarantined keys whose time is up. Returns the number
    /// of datagrams that timed out. The stack's driver calls it; <see cref="Process"/> calls it too.
    /// </summary>
    public int ExpireDue() => _disposed ? 0 : ExpireDue(_time.GetTimestamp());

    /// <summary>Releases every held fragment (counted as <see cref="ReassemblyDropReason.Shutdown"/>); later packets are dropped.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        for (int v = 0; v < 2; v++)
        {
            while (_oldest[v] is { } ctx)
            {
                Discard(ctx, ReassemblyDropReason.Shutdown, quarantine: false, now: 0);
            }
        }
        _quarantine.Clear();
    }

    /// <summary>
    /// The memory a held fragment pins: the size of every chunk it references (a shared chunk is counted once
    /// per fragment, which errs on the safe side) plus <see cref="PerFragmentOverhead"/>.
    /// </summary>
    internal static long MemoryCost(PacketBuffer packet)
    {
        long cost = PerFragmentOverhead;
        int pieces = packet.FragmentCount;
        for (int i = 0; i < pieces; i++)
        {
            Memory<byte> piece = packet.GetFragmentMemory(i);
            cost += MemoryMarshal.TryGetArray<byte>(piece, out ArraySegment<byte> segment) && segment.Array is not null
                ? segment.Array.Length
                : piece.Length;
        }
        return cost;
    }

    private ReassemblyResult Insert(PacketBuffer fragment, in ParsedFragment f, long now)
    {
        if (_quarantine.Contains(f.Key, now))
        {
            return Drop(fragment, ReassemblyDropReason.Quarantined, notify: false); // RFC 5722 §4
        }
        fragment = Compact(fragment);
        long cost = MemoryCost(fragment);
        int version = VersionIndex(f.Key);
        if (!_contexts.TryGetValue(f.Key, out ReassemblyContext? ctx))
        {
            if (cost > _options.MaxBytes)
            {
                return Drop(fragment, ReassemblyDropReason.MemoryLimit, notify: false);
            }
            if (cost > _options.MaxBytesPerSource)
            {
                return Drop(fragment, ReassemblyDropReason.SourceQuota, notify: false);
            }
            // The source's own quota first: a source past it loses its own oldest datagram, nobody else's.
            if (_sources.TryGetValue(new SourceKey(f.Key.Source, f.Key.Version), out SourceUsage? held)
                && held.Datagrams >= _options.MaxDatagramsPerSource && held.Oldest is { } own)
            {
                Evict(own);
            }
            if (_contexts.Count >= _options.MaxDatagrams && Victim(except: null, byMemory: false) is { } victim)
            {
                Evict(victim);
            }
            ctx = _free.Count > 0 ? _free.Pop() : new ReassemblyContext();
            ctx.Reset(f.Key, now, now + _timeoutTicks[version]);
            Link(ctx, version);
            SourceOf(f.Key).Add(ctx); // after the evictions, which may have retired this source's usage
            _contexts.Add(f.Key, ctx);
        }

        ReassemblyDropReason verdict = Check(ctx, f, out int index);
        switch (verdict)
        {
            case ReassemblyDropReason.None:
                break;
            case ReassemblyDropReason.Duplicate:
                return Drop(fragment, verdict, notify: false);
            case ReassemblyDropReason.Overlap:
            case ReassemblyDropReason.Inconsistent:
                Discard(ctx, verdict, quarantine: true, now); // RFC 5722 §4: the whole datagram goes
                return Drop(fragment, verdict, notify: false);
            default:
                Discard(ctx, verdict, quarantine: false, now);
                return Drop(fragment, verdict, notify: false);
        }

        SourceUsage source = ctx.Source!;
        while (source.Bytes + cost > _options.MaxBytesPerSource)
        {
            if (source.OldestExcept(ctx) is not { } own)
            {
                Discard(ctx, ReassemblyDropReason.SourceQuota, quarantine: false, now);
                return Drop(fragment, ReassemblyDropReason.SourceQuota, notify: false);
            }
            Evict(own);
        }
        while (_bytesHeld + cost > _options.MaxBytes)
        {
            if (Victim(except: ctx, byMemory: true) is not { } victim)
            {
                Discard(ctx, ReassemblyDropReason.MemoryLimit, quarantine: false, now);
                return Drop(fragment, ReassemblyDropReason.MemoryLimit, notify: false);
            }
            Evict(victim);
        }

        ctx.Insert(index, new ReassemblyContext.Entry
        {
            Buffer = fragment,
            Start = f.Start,
            End = f.End,
            DataOffset = f.DataOffset,
            More = f.More,
        });
        if (!f.More)
        {
            ctx.TotalLength = f.End;
        }
        if (f.Start == 0)
        {
            ctx.FirstHeaderLength = f.HeaderLength;
            ctx.FirstNextHeaderPosition = f.NextHeaderPosition;
            ctx.FirstNextHeader = f.NextHeader;
        }
        ctx.Bytes += cost;
        source.Bytes += cost;
        _bytesHeld += cost;
        _fragmentsHeld++;
        Events.Increment(ReassemblyEvent.FragmentHeld);
        return ctx.IsComplete ? Complete(ctx, now) : ReassemblyResult.Held;
    }

    /// <summary>Where the fragment goes, or why it cannot.</summary>
    private ReassemblyDropReason Check(ReassemblyContext ctx, in ParsedFragment f, out int index)
    {
        index = ctx.LowerBound(f.Start);
        if (index < ctx.Count)
        {
            ref ReassemblyContext.Entry same = ref ctx.Entries[index];
            if (same.Start == f.Start && same.End == f.End && same.More == f.More)
            {
                return ReassemblyDropReason.Duplicate; // RFC 8200 §4.5: exact duplicates may be dropped alone
            }
        }
        if (!f.More)
        {
            // The last fragment fixes the length: it must agree with an earlier last and end past all data.
            if ((ctx.TotalLength >= 0 && ctx.TotalLength != f.End) || (ctx.Count > 0 && ctx.Entries[ctx.Count - 1].End > f.End))
            {
                return ReassemblyDropReason.Inconsistent;
            }
        }
        else if (ctx.TotalLength >= 0 && f.End >= ctx.TotalLength)
        {
            return ReassemblyDropReason.Inconsistent;
        }
        if ((index > 0 && ctx.Entries[index - 1].End > f.Start) || (index < ctx.Count && ctx.Entries[index].Start < f.End))
        {
            return ReassemblyDropReason.Overlap; // RFC 5722 §4
        }
        if (ctx.Count >= _options.MaxFragmentsPerDatagram)
        {
            return ReassemblyDropReason.TooManyFragments;
        }
        return ReassemblyDropReason.None;
    }

    private int ExpireDue(long now)
    {
        int expired = 0;
        for (int v = 0; v < 2; v++)
        {
            // Each list is in arrival order and shares one timeout, so the due ones are at the front.
            while (_oldest[v] is { } ctx && ctx.Deadline <= now)
            {
                Expire(ctx);
                expired++;
            }
        }
        _quarantine.Prune(now);
        return expired;
    }

    private void Expire(ReassemblyContext ctx)
    {
        Unlink(ctx);
        Drops.Add(ReassemblyDropReason.Timeout, ctx.Count);
        Events.Increment(ReassemblyEvent.DatagramTimedOut);
        try
        {
            // RFC 792, RFC 4443 §3.3: Time Exceeded (fragment reassembly) only if the first fragment arrived.
            if (ctx.HasFirst && _errorHandler is not null)
            {
                _errorHandler(ctx.Entries[0].Buffer, ReassemblyDropReason.Timeout);
            }
        }
        finally
        {
            Recycle(ctx);
        }
    }

    private void Evict(ReassemblyContext ctx)
    {
        Unlink(ctx);
        Drops.Add(ReassemblyDropReason.Evicted, ctx.Count);
        Events.Increment(ReassemblyEvent.DatagramEvicted);
        Recycle(ctx);
    }

    private void Discard(ReassemblyContext ctx, ReassemblyDropReason reason, bool quarantine, long now)
    {
        Unlink(ctx);
        Drops.Add(reason, ctx.Count);
        Events.Increment(ReassemblyEvent.DatagramDiscarded);
        if (quarantine)
        {
            _quarantine.Add(ctx.Key, now + _quarantineTicks[VersionIndex(ctx.Key)]);
            Events.Increment(ReassemblyEvent.KeyQuarantined);
        }
        Recycle(ctx);
    }

    private ReassemblyResult Drop(PacketBuffer fragment, ReassemblyDropReason reason, bool notify)
    {
        Drops.Increment(reason);
        try
        {
            if (notify && _errorHandler is not null)
            {
                _errorHandler(fragment, reason);
            }
        }
        finally
        {
            fragment.Release();
        }
        return ReassemblyResult.Dropped(reason);
    }

    /// <summary>
    /// The datagram to evict when the whole budget is full: the oldest (other than <paramref name="except"/>) of
    /// the source holding the most memory (<paramref name="byMemory"/>) or the most datagrams. That source is at
    /// or above its fair share (the budget divided among the sources present), so a source within its share loses
    /// nothing while another is above it. A scan over the sources: only a full budget gets here.
    /// </summary>
    private ReassemblyContext? Victim(ReassemblyContext? except, bool byMemory)
    {
        ReassemblyContext? best = null;
        long bestLoad = -1;
        foreach (SourceUsage usage in _sources.Values)
        {
            long load = byMemory ? usage.Bytes : usage.Datagrams;
            if (load > bestLoad && usage.OldestExcept(except) is { } candidate)
            {
                (best, bestLoad) = (candidate, load);
            }
        }
        return best;
    }

    private SourceUsage SourceOf(in FragmentKey key)
    {
        var sourceKey = new SourceKey(key.Source, key.Version);
        if (!_sources.TryGetValue(sourceKey, out SourceUsage? usage))
        {
            usage = _freeSources.Count > 0 ? _freeSources.Pop() : new SourceUsage();
            usage.Key = sourceKey;
            _sources.Add(sourceKey, usage);
        }
        return usage;
    }

    /// <summary>
    /// A fragment that pins more than twice what a copy of it would (it spilled into a large read chunk, or shares
    /// one) is copied into a buffer of its own size, so a held fragment costs about what it carries.
    /// </summary>
    private static PacketBuffer Compact(PacketBuffer fragment)
    {
        int length = fragment.Length;
        long copyCost = PerFragmentOverhead + ChunkSizeFor(fragment.Pool, length);
        if (MemoryCost(fragment) <= 2 * copyCost)
        {
            return fragment;
        }
        PacketBuffer copy = fragment.Pool.Rent(length, headroom: 0);
        fragment.CopyTo(copy.Append(length));
        copy.NetworkProtocol = fragment.NetworkProtocol;
        copy.RxChecksumValidated = fragment.RxChecksumValidated;
        fragment.Release();
        return copy;
    }

    private static int ChunkSizeFor(PacketBufferPool pool, int length)
    {
        foreach (int size in pool.Options.SizeClasses)
        {
            if (size >= length)
            {
                return size;
            }
        }
        return length;
    }

    private void Link(ReassemblyContext ctx, int version)
    {
        ctx.Older = _newest[version];
        ctx.Newer = null;
        if (_newest[version] is { } tail)
        {
            tail.Newer = ctx;
        }
        else
        {
            _oldest[version] = ctx;
        }
        _newest[version] = ctx;
    }

    /// <summary>Takes the datagram out of every index and uncharges it; its fragments are still held.</summary>
    private void Unlink(ReassemblyContext ctx)
    {
        int version = VersionIndex(ctx.Key);
        _contexts.Remove(ctx.Key);
        if (ctx.Older is { } older)
        {
            older.Newer = ctx.Newer;
        }
        else
        {
            _oldest[version] = ctx.Newer;
        }
        if (ctx.Newer is { } newer)
        {
            newer.Older = ctx.Older;
        }
        else
        {
            _newest[version] = ctx.Older;
        }
        ctx.Older = ctx.Newer = null;
        if (ctx.Source is { } usage)
        {
            usage.Remove(ctx);
            if (usage.Datagrams == 0)
            {
                _sources.Remove(usage.Key);
                if (_freeSources.Count < _options.MaxDatagrams)
                {
                    _freeSources.Push(usage);
                }
            }
        }
        _bytesHeld -= ctx.Bytes;
        _fragmentsHeld -= ctx.Count;
    }

    /// <summary>Releases the fragments of an unlinked datagram and keeps the context for reuse.</summary>
    private void Recycle(ReassemblyContext ctx)
    {
        for (int i = 0; i < ctx.Count; i++)
        {
            ctx.Entries[i].Buffer.Release();
            ctx.Entries[i] = default;
        }
        ctx.Count = 0;
        ctx.Bytes = 0;
        if (_free.Count < _options.MaxDatagrams)
        {
            _free.Push(ctx);
        }
    }

    private static int VersionIndex(in FragmentKey key) => key.Version == 4 ? 0 : 1;

    private long ToTicks(TimeSpan span)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(span, TimeSpan.Zero, "options");
        double ticks = span.TotalSeconds * _time.TimestampFrequency;
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : (long)ticks;
    }
}
