using NetStack.Buffers;

namespace NetStack.Network.Fragmentation;

/// <summary>What <see cref="FragmentReassembler.Process"/> did with a packet.</summary>
internal enum ReassemblyStatus
{
    /// <summary>The fragment was kept; its datagram is not complete yet.</summary>
    Held,
    /// <summary><see cref="ReassemblyResult.Packet"/> is a whole datagram the caller now owns.</summary>
    Completed,
    /// <summary>The packet was dropped and released; <see cref="ReassemblyResult.DropReason"/> says why.</summary>
    Dropped,
}

/// <summary>Why a fragment (or the held fragments of a datagram) was dropped. Counted in <see cref="FragmentReassembler.Drops"/>, one per fragment.</summary>
public enum ReassemblyDropReason
{
    /// <summary>Not dropped.</summary>
    None = 0,
    /// <summary>The IP header does not parse (version, lengths, IPv6 extension chain before the fragment header).</summary>
    Malformed,
    /// <summary>A fragment with no data.</summary>
    EmptyFragment,
    /// <summary>A fragment other than the last whose data length is not a multiple of 8 (RFC 8200 §4.5: ICMPv6 Parameter Problem code 0; also applied to IPv4).</summary>
    NotMultipleOf8,
    /// <summary>The reassembled datagram would exceed 65535 bytes (RFC 8200 §4.5: ICMPv6 Parameter Problem code 0; RFC 791 total length for IPv4).</summary>
    TooLong,
    /// <summary>An IPv6 first fragment without the whole header chain up to and including the upper-layer header (RFC 7112 §5).</summary>
    IncompleteHeaderChain,
    /// <summary>The fragment overlaps one already held: the whole datagram is discarded (RFC 5722 §4, applied to IPv4 too).</summary>
    Overlap,
    /// <summary>A fragment of a datagram discarded for overlap or inconsistency a short while ago (RFC 5722 §4).</summary>
    Quarantined,
    /// <summary>Fragments disagree on where the datagram ends (two last fragments, or data past the last): the datagram is discarded and its key quarantined like an overlap.</summary>
    Inconsistent,
    /// <summary>An exact duplicate (same offset, length and M flag) of a held fragment: the copy is dropped, the datagram goes on (RFC 8200 §4.5 allows this).</summary>
    Duplicate,
    /// <summary>The datagram needed more than <see cref="ReassemblyOptions.MaxFragmentsPerDatagram"/> fragments and was discarded.</summary>
    TooManyFragments,
    /// <summary>The fragment could not fit within <see cref="ReassemblyOptions.MaxBytes"/> even after evicting every other datagram; its datagram was discarded.</summary>
    MemoryLimit,
    /// <summary>
    /// The fragment's source was at its quota (<see cref="ReassemblyOptions.MaxBytesPerSource"/>) with no older
    /// datagram of its own left to evict: the fragment and its datagram were dropped.
    /// </summary>
    SourceQuota,
    /// <summary>A held fragment of an evicted datagram: its source's oldest (per-source quota) or the heaviest source's oldest (memory or datagram limit).</summary>
    Evicted,
    /// <summary>The reassembled datagram would reference more than <see cref="PacketBuffer.MaxPayloadSegments"/> pieces.</summary>
    SegmentLimit,
    /// <summary>A held fragment of a datagram that did not complete within its timeout.</summary>
    Timeout,
    /// <summary>Released when the reassembler was disposed.</summary>
    Shutdown,
}

/// <summary>Events of a <see cref="FragmentReassembler"/>, counted in <see cref="FragmentReassembler.Events"/>.</summary>
public enum ReassemblyEvent
{
    /// <summary>A fragment was held.</summary>
    FragmentHeld,
    /// <summary>A datagram was reassembled.</summary>
    DatagramCompleted,
    /// <summary>An IPv6 atomic fragment was passed through without reassembly (RFC 6946).</summary>
    AtomicFragment,
    /// <summary>A packet that was not a fragment was passed through.</summary>
    NotAFragment,
    /// <summary>A datagram timed out.</summary>
    DatagramTimedOut,
    /// <summary>A datagram was evicted for room.</summary>
    DatagramEvicted,
    /// <summary>A datagram was discarded (overlap, inconsistency, limits, length).</summary>
    DatagramDiscarded,
    /// <summary>A key was quarantined after an overlap or inconsistency.</summary>
    KeyQuarantined,
}

/// <summary>
/// Called with a packet the stack should answer with an ICMP error, which the handler only borrows (call
/// <see cref="PacketBuffer.AddRef"/> to keep it): for <see cref="ReassemblyDropReason.Timeout"/> the offset-0
/// fragment of a datagram that timed out (ICMP Time Exceeded code 1, RFC 792, RFC 4443 §3.3); for IPv6
/// <see cref="ReassemblyDropReason.NotMultipleOf8"/> and <see cref="ReassemblyDropReason.TooLong"/> the
/// offending fragment (ICMPv6 Parameter Problem code 0, RFC 8200 §4.5), and for IPv6
/// <see cref="ReassemblyDropReason.IncompleteHeaderChain"/> the first fragment (Parameter Problem code 3,
/// RFC 7112 §5). The packet starts at its IP header. The handler runs inside
/// <see cref="FragmentReassembler.Process"/> or <see cref="FragmentReassembler.ExpireDue()"/> and must not
/// call back into the reassembler.
/// </summary>
/// <param name="packet">The fragment as received (borrowed).</param>
/// <param name="reason">Which error applies.</param>
public delegate void FragmentErrorHandler(PacketBuffer packet, ReassemblyDropReason reason);

/// <summary>The outcome of <see cref="FragmentReassembler.Process"/>.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Packet">With <see cref="ReassemblyStatus.Completed"/>, the datagram (one reference, owned by the caller); otherwise null.</param>
/// <param name="DropReason">With <see cref="ReassemblyStatus.Dropped"/>, why; otherwise <see cref="ReassemblyDropReason.None"/>.</param>
internal readonly record struct ReassemblyResult(ReassemblyStatus Status, PacketBuffer? Packet, ReassemblyDropReason DropReason)
{
    internal static ReassemblyResult Held => new(ReassemblyStatus.Held, null, ReassemblyDropReason.None);

    internal static ReassemblyResult Completed(PacketBuffer packet) => new(ReassemblyStatus.Completed, packet, ReassemblyDropReason.None);

    internal static ReassemblyResult Dropped(ReassemblyDropReason reason) => new(ReassemblyStatus.Dropped, null, reason);
}
