namespace NetStack.Link.Tun;

/// <summary>Counted events of a <see cref="TunEndpoint"/> (drops have their own reasons in <see cref="TunDropReason"/>).</summary>
public enum TunEvent
{
    /// <summary>Packets read from the device.</summary>
    PacketsRead,
    /// <summary>Bytes read (virtio header excluded).</summary>
    BytesRead,
    /// <summary>GSO super-packets read (the kernel sent TSO/USO).</summary>
    GsoPacketsRead,
    /// <summary>Super-packets read that were split in software before the stack saw them.</summary>
    GsoPacketsSplit,
    /// <summary>Partial checksums completed on read (NEEDS_CSUM not where the transport header is, or trust off): RX validation verifies them.</summary>
    ChecksumsCompleted,
    /// <summary>Read batches (each ends with a GRO flush).</summary>
    ReadBatches,
    /// <summary>Packets written to the device (a super-packet counts once).</summary>
    PacketsWritten,
    /// <summary>Bytes written (virtio header excluded).</summary>
    BytesWritten,
    /// <summary>Super-packets written with a virtio GSO header (the kernel segments or takes them whole).</summary>
    GsoPacketsWritten,
    /// <summary>Wire segments the written packets stand for.</summary>
    SegmentsWritten,
    /// <summary>Outbound packets merged into another by GRO on write.</summary>
    WriteGroMerged,
    /// <summary>Atomic IPv4 datagrams whose identification GRO on write renumbered to keep a flow in sequence (RFC 6864 §4.1).</summary>
    IdsRenumbered,
    /// <summary>Super-packets segmented in software on write (no virtio header, or a full checksum).</summary>
    SoftwareSegmented,
    /// <summary>Write batches drained from the outbound queue.</summary>
    WriteBatches,
    /// <summary>Reads that failed with an errno other than EAGAIN/EINTR.</summary>
    ReadErrors,
    /// <summary>Packets read whose NEEDS_CSUM or DATA_VALID was taken as verified (no checksum pass; <see cref="TunEndpointOptions.TrustKernelChecksums"/>).</summary>
    ChecksumsTrusted,
    /// <summary>Read batches that ended with the reader writing what the stack queued meanwhile (<see cref="TunEndpointOptions.InlineWrites"/>).</summary>
    InlineWrites,
    /// <summary>Pure ACKs not written because a later ACK of their connection in the same batch superseded them (<see cref="TunEndpointOptions.AckFilter"/>).</summary>
    AcksFiltered,
    /// <summary>
    /// Exceptions caught at the TUN layer's boundaries — a packet's work on the reader, a read or write batch, a
    /// decorator's due delivery — each logged at most once a minute; the loops go on (docs/ARCHITECTURE.md §6).
    /// </summary>
    Faults,
}

/// <summary>Why the TUN layer dropped a packet (never silently).</summary>
public enum TunDropReason
{
    /// <summary>Not dropped.</summary>
    None = 0,
    /// <summary>A read shorter than the virtio header, or empty.</summary>
    ShortRead,
    /// <summary>virtio_net_hdr flags with unknown bits.</summary>
    BadVirtioFlags,
    /// <summary>A gso_type we did not negotiate or do not know (UFO included).</summary>
    UnsupportedGsoType,
    /// <summary>gso_type does not match the IP version (TCPV4 on IPv6 or the reverse).</summary>
    GsoTypeMismatch,
    /// <summary>A GSO packet without NEEDS_CSUM.</summary>
    GsoWithoutChecksum,
    /// <summary>csum_start/csum_offset outside the packet or the head, or not where the L4 header is.</summary>
    BadChecksumLocation,
    /// <summary>The transport header of a GSO packet is cut short or inconsistent, or gso_size is zero.</summary>
    BadGsoHeaders,
    /// <summary>The IP header is cut short or its length disagrees with what was read.</summary>
    BadIpLength,
    /// <summary>A super-packet could not be split (more segments than a batch holds, or bad layout).</summary>
    SplitFailed,
    /// <summary>The kernel refused a write with EINVAL (a header it does not accept).</summary>
    WriteRejected,
    /// <summary>
    /// The device's queue was full (the write failed with EAGAIN): the packet is tail-dropped, as Linux drops at a
    /// full transmit queue, rather than the writing thread waiting (logged at most once a minute).
    /// </summary>
    DeviceFull,
    /// <summary>A write failed for another reason (device down: EIO, no buffer space, …).</summary>
    WriteFailed,
    /// <summary>An outbound packet the software segmenter could not cut (bad GSO metadata).</summary>
    BadOutboundGso,
    /// <summary>A packet dropped because work on it (or on its batch) threw; the fault is counted in <see cref="TunEvent.Faults"/>.</summary>
    ProcessingFault,
}
