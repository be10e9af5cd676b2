// Layer: GRO. What the engine counts: events, why a flow was flushed, why a packet was not considered for merging.
namespace NetStack.Gro;

/// <summary>Counted events of a <see cref="TcpGro"/>.</summary>
public enum GroEvent
{
    /// <summary>Packets handed to <see cref="TcpGro.Enqueue"/>.</summary>
    PacketsIn,
    /// <summary>Packets whose payload was appended to a held packet of their flow (they leave no packet of their own).</summary>
    PacketsCoalesced,
    /// <summary>Coalesced packets delivered (each stands for two or more wire segments).</summary>
    SuperSegmentsOut,
    /// <summary>Packets held as the start of a flow and delivered alone (nothing merged into them).</summary>
    SinglesOut,
    /// <summary>Packets delivered without being held (see <see cref="GroPassThroughReason"/>).</summary>
    PassThrough,
    /// <summary>Flows flushed early because every flow slot was taken.</summary>
    Evictions,
}

/// <summary>Why a held flow was delivered (ARCHITECTURE.md §4: every flush reason is counted).</summary>
public enum GroFlushReason
{
    /// <summary><see cref="TcpGro.Flush"/>: end of the batch.</summary>
    BatchEnd,
    /// <summary>The flow table was full and this flow was the oldest.</summary>
    Eviction,
    /// <summary>The last merged (or only) segment had PSH.</summary>
    Push,
    /// <summary>The last merged (or only) segment had FIN.</summary>
    Fin,
    /// <summary>A SYN of the flow arrived (it passes through after the flush).</summary>
    Syn,
    /// <summary>An RST of the flow arrived (it passes through after the flush).</summary>
    Rst,
    /// <summary>A segment with URG arrived (it passes through after the flush).</summary>
    Urg,
    /// <summary>A segment of the flow without payload (a pure ACK) arrived; it passes through after the flush.</summary>
    NoPayload,
    /// <summary>A segment shorter than the flow's segment size was merged: nothing may follow it.</summary>
    ShortSegment,
    /// <summary>A segment longer than the flow's segment size arrived; it starts a new flow.</summary>
    LargerSegment,
    /// <summary>The next full segment would make the IP length exceed the limit.</summary>
    Full,
    /// <summary>The packet would need more payload segments than <see cref="Buffers.PacketBuffer.MaxPayloadSegments"/>.</summary>
    SegmentLimit,
    /// <summary>Sequence number not equal to the held sequence number plus the held payload.</summary>
    SequenceGap,
    /// <summary>Different acknowledgment number.</summary>
    AckChanged,
    /// <summary>Different TCP data offset or option bytes (timestamps included).</summary>
    TcpOptionsChanged,
    /// <summary>Control bits differ other than PSH and FIN (and CWR on the held segment).</summary>
    TcpFlagsChanged,
    /// <summary>The new segment has CWR: it may only start a super-segment (GSO puts CWR on the first segment).</summary>
    Cwr,
    /// <summary>Different receive window.</summary>
    WindowChanged,
    /// <summary>Different urgent pointer field or reserved bits.</summary>
    TcpHeaderChanged,
    /// <summary>IP fields differ: TOS/traffic class, TTL/hop limit, DF, IPv6 flow label or next header.</summary>
    IpHeaderChanged,
    /// <summary>IPv4 identification is not the held ID plus the number of segments held.</summary>
    IpIdNotSequential,
    /// <summary>IPv6 extension headers are not byte-identical.</summary>
    ExtensionHeadersChanged,
    /// <summary>A packet of the flow that GRO does not merge (not validated, IPv4 options, a fragment, …) arrived; it passes through after the flush.</summary>
    PassThrough,
}

/// <summary>Why a packet was delivered at once instead of being held.</summary>
public enum GroPassThroughReason
{
    /// <summary>Not IPv4 or IPv6, or headers too short or inconsistent to parse (the stack drops it).</summary>
    Malformed,
    /// <summary>The transport is not TCP.</summary>
    NotTcp,
    /// <summary>The TCP checksum was not validated (<see cref="Buffers.PacketBuffer.RxChecksumValidated"/> is false).</summary>
    NotValidated,
    /// <summary>An IPv4 or IPv6 fragment (reassembly comes first).</summary>
    Fragment,
    /// <summary>IPv4 with options.</summary>
    Ipv4Options,
    /// <summary>IPv6 with a routing header (the pseudo-header would need the final destination, RFC 8200 §8.1).</summary>
    Ipv6RoutingHeader,
    /// <summary>The IP and TCP headers are not all in the head segment.</summary>
    HeadersNotInHead,
    /// <summary>The packet already carries GSO metadata (it was coalesced before).</summary>
    AlreadyCoalesced,
    /// <summary>SYN, RST or URG.</summary>
    ControlFlag,
    /// <summary>No TCP payload.</summary>
    NoPayload,
}
