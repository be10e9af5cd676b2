// Layer: link endpoints, Linux TUN. The virtio_net_hdr a TUN device with IFF_VNET_HDR puts before every packet:
// its offset table, fields, and the header for an outbound packet's offload metadata.
using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary><c>virtio_net_hdr.flags</c> (linux/virtio_net.h).</summary>
[Flags]
public enum VirtioNetFlags : byte
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is partial; complete it over csum_start..end into csum_start + csum_offset.</summary>
    NeedsChecksum = 1,
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the device says the checksum was verified.</summary>
    DataValid = 2,
}

/// <summary><c>virtio_net_hdr.gso_type</c> values; the ECN bit is separate (<see cref="VirtioNetHeader.GsoEcn"/>).</summary>
public enum VirtioGsoType : byte
{
    /// <summary>VIRTIO_NET_HDR_GSO_NONE.</summary>
    None = 0,
    /// <summary>VIRTIO_NET_HDR_GSO_TCPV4.</summary>
    TcpV4 = 1,
    /// <summary>VIRTIO_NET_HDR_GSO_UDP (UFO, fragmenting; not negotiated by NetStack).</summary>
    Udp = 3,
    /// <summary>VIRTIO_NET_HDR_GSO_TCPV6.</summary>
    TcpV6 = 4,
    /// <summary>VIRTIO_NET_HDR_GSO_UDP_L4 (USO, Linux ≥ 6.2).</summary>
    UdpL4 = 5,
}

/// <summary>
/// The legacy 10-byte <c>virtio_net_hdr</c> that a TUN device opened with <c>IFF_VNET_HDR</c> puts in front
/// of every packet, both ways (ARCHITECTURE.md §4). Fields are in host byte order (little-endian on every platform
/// .NET runs Linux TUN on; the device is not switched with TUNSETVNETBE). This is the repr: the fields as
/// read, with no judgement of their consistency with the packet (see <see cref="VirtioInbound"/>).
/// </summary>
public struct VirtioNetHeader : IEquatable<VirtioNetHeader>
{
    /// <summary>Size on the wire.</summary>
    public const int Length = 10;

    /// <summary>The offset table (linux/virtio_net.h): flags, gso_type, then hdr_len, gso_size, csum_start, csum_offset (16 bits each, host order).</summary>
    public const int FlagsOffset = 0, GsoTypeOffset = 1, HeaderLengthOffset = 2, GsoSizeOffset = 4, ChecksumStartOffset = 6, ChecksumOffsetOffset = 8;

    /// <summary>The ECN bit of gso_type (VIRTIO_NET_HDR_GSO_ECN).</summary>
    public const byte GsoEcn = 0x80;

    /// <summary>flags.</summary>
    public VirtioNetFlags Flags;
    /// <summary>gso_type, ECN bit included.</summary>
    public byte GsoTypeByte;
    /// <summary>hdr_len: bytes of headers each segment repeats (a hint: never trusted on read).</summary>
    public ushort HeaderLength;
    /// <summary>gso_size: payload bytes per segment.</summary>
    public ushort GsoSize;
    /// <summary>csum_start: offset of the L4 header from the start of the packet.</summary>
    public ushort ChecksumStart;
    /// <summary>csum_offset: offset of the checksum field inside the L4 header.</summary>
    public ushort ChecksumOffset;

    /// <summary>gso_type without the ECN bit.</summary>
    public readonly VirtioGsoType GsoType => (VirtioGsoType)(GsoTypeByte & ~GsoEcn);

    /// <summary>True when the ECN bit of gso_type is set.</summary>
    public readonly bool Ecn => (GsoTypeByte & GsoEcn) != 0;

    /// <summary>Bytes <see cref="Emit"/> writes.</summary>
    public readonly int BufferLength => Length;

    /// <summary>Reads the ten bytes at the start of <paramref name="buffer"/>; false (and <see cref="WireError.Truncated"/>) when shorter.</summary>
    public static bool TryParse(ReadOnlySpan<byte> buffer, out VirtioNetHeader header, out WireError error)
    {
        if (buffer.Length < Length)
        {
            header = default;
            error = WireError.Truncated;
            return false;
        }
        header = new VirtioNetHeader
        {
            Flags = (VirtioNetFlags)buffer[FlagsOffset],
            GsoTypeByte = buffer[GsoTypeOffset],
            HeaderLength = BinaryPrimitives.ReadUInt16LittleEndian(buffer[HeaderLengthOffset..]),
            GsoSize = BinaryPrimitives.ReadUInt16LittleEndian(buffer[GsoSizeOffset..]),
            ChecksumStart = BinaryPrimitives.ReadUInt16LittleEndian(buffer[ChecksumStartOffset..]),
            ChecksumOffset = BinaryPrimitives.ReadUInt16LittleEndian(buffer[ChecksumOffsetOffset..]),
        };
        error = WireError.None;
        return true;
    }

    /// <summary>Writes every field into the first ten bytes of <paramref name="buffer"/> (no byte left as it was).</summary>
    public readonly void Emit(Span<byte> buffer)
    {
        buffer = buffer[..Length];
        buffer[FlagsOffset] = (byte)Flags;
        buffer[GsoTypeOffset] = GsoTypeByte;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[HeaderLengthOffset..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[GsoSizeOffset..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[ChecksumStartOffset..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[ChecksumOffsetOffset..], ChecksumOffset);
    }

    /// <summary>
    /// The header for an outbound packet with <paramref name="gso"/>: NEEDS_CSUM with the checksum location
    /// when the checksum is partial, the GSO type, MSS and header length when it is a super-segment, all zero
    /// otherwise (every field initialised, ARCHITECTURE.md §4).
    /// </summary>
    public static VirtioNetHeader FromGso(in GsoOptions gso)
    {
        var header = default(VirtioNetHeader);
        if (gso.NeedsChecksum)
        {
            header.Flags = VirtioNetFlags.NeedsChecksum;
            header.ChecksumStart = gso.ChecksumStart;
            header.ChecksumOffset = gso.ChecksumOffset;
        }
        if (gso.IsGso)
        {
            header.GsoTypeByte = (byte)gso.Type; // GsoType values are virtio's
            header.GsoSize = gso.MaxSegmentSize;
            header.HeaderLength = gso.HeaderLength;
        }
        return header;
    }

    /// <inheritdoc/>
    public readonly bool Equals(VirtioNetHeader other) =>
        Flags == other.Flags && GsoTypeByte == other.GsoTypeByte && HeaderLength == other.HeaderLength && GsoSize == other.GsoSize
        && ChecksumStart == other.ChecksumStart && ChecksumOffset == other.ChecksumOffset;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is VirtioNetHeader h && Equals(h);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Flags, GsoTypeByte, HeaderLength, GsoSize, ChecksumStart, ChecksumOffset);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(VirtioNetHeader left, VirtioNetHeader right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(VirtioNetHeader left, VirtioNetHeader right) => !left.Equals(right);

    /// <inheritdoc/>
    public override readonly string ToString() =>
        $"flags={Flags} gso={GsoType}{(Ecn ? "+ecn" : "")} hdr_len={HeaderLength} gso_size={GsoSize} csum={ChecksumStart}+{ChecksumOffset}";
}
