namespace NetStack;

/// <summary>
/// Generic segmentation offload kinds. Values match the Linux <c>virtio_net_hdr.gso_type</c> field so the
/// TUN layer can copy them straight into the header (ARCHITECTURE.md §4).
/// </summary>
public enum GsoType : byte
{
    /// <summary>Not a GSO packet.</summary>
    None = 0,
    /// <summary>TCP over IPv4 (VIRTIO_NET_HDR_GSO_TCPV4).</summary>
    TcpV4 = 1,
    /// <summary>TCP over IPv6 (VIRTIO_NET_HDR_GSO_TCPV6).</summary>
    TcpV6 = 4,
    /// <summary>UDP segmentation offload, L4 (VIRTIO_NET_HDR_GSO_UDP_L4).</summary>
    UdpL4 = 5,
}

/// <summary>
/// Segmentation metadata carried by an outbound super-segment (ARCHITECTURE.md §2, §4). With
/// <see cref="NeedsChecksum"/> the L4 checksum field at <see cref="ChecksumStart"/> + <see cref="ChecksumOffset"/>
/// holds the folded pseudo-header sum, not complemented (CHECKSUM_PARTIAL).
/// </summary>
public struct GsoOptions : IEquatable<GsoOptions>
{
    /// <summary>What kind of segmentation the packet needs.</summary>
    public GsoType Type;
    /// <summary>The L4 checksum is partial and must be completed over <see cref="ChecksumStart"/>..end.</summary>
    public bool NeedsChecksum;
    /// <summary>Bytes of headers (IP + L4) that every segment repeats.</summary>
    public ushort HeaderLength;
    /// <summary>Payload bytes per segment (the MSS for TCP).</summary>
    public ushort MaxSegmentSize;
    /// <summary>Offset of the L4 header from the start of the IP header.</summary>
    public ushort ChecksumStart;
    /// <summary>Offset of the checksum field inside the L4 header (16 for TCP, 6 for UDP).</summary>
    public ushort ChecksumOffset;

    /// <summary>True when the packet must be segmented before it leaves a device that cannot do it.</summary>
    public readonly bool IsGso => Type != GsoType.None;

    /// <inheritdoc/>
    public readonly bool Equals(GsoOptions other) =>
        Type == other.Type && NeedsChecksum == other.NeedsChecksum && HeaderLength == other.HeaderLength
        && MaxSegmentSize == other.MaxSegmentSize && ChecksumStart == other.ChecksumStart && ChecksumOffset == other.ChecksumOffset;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is GsoOptions o && Equals(o);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Type, NeedsChecksum, HeaderLength, MaxSegmentSize, ChecksumStart, ChecksumOffset);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(GsoOptions left, GsoOptions right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(GsoOptions left, GsoOptions right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() =>
        $"{Type} mss={MaxSegmentSize} hdr={HeaderLength} csum={(NeedsChecksum ? $"partial@{ChecksumStart}+{ChecksumOffset}" : "full")}";
}
