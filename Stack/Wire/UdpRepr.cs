// UDP header representation (RFC 768) and its emitter.
using System.Buffers.Binary;
using NetStack.Checksums;

namespace NetStack.Wire;

/// <summary>
/// The UDP header fields: ports and payload length. The checksum is not part of the repr: verify it with
/// <see cref="UdpHeader.VerifyChecksum(ReadOnlySpan{byte}, uint, NetworkProtocol, out WireError)"/> and
/// write it after <see cref="Emit"/> with <see cref="UdpHeader.WriteChecksum(Span{byte}, uint)"/> (or
/// leave it 0 over IPv4).
/// </summary>
public record struct UdpRepr
{
    /// <summary>Source port.</summary>
    public ushort SourcePort;
    /// <summary>Destination port.</summary>
    public ushort DestinationPort;
    /// <summary>Payload bytes after the header (0..65527); the length field is 8 plus this.</summary>
    public int PayloadLength;

    /// <summary>
    /// Reads the fields of <paramref name="header"/>; over <see cref="NetworkProtocol.IPv6"/> a zero checksum
    /// fails with <see cref="WireError.BadField"/> (RFC 8200 §8.1). The checksum value is not verified here.
    /// </summary>
    public static bool TryParse(in UdpHeader header, NetworkProtocol network, out UdpRepr repr, out WireError error)
    {
        if (header.Checksum == 0 && TransportChecksum.UdpZeroChecksum(network) == TransportChecksumStatus.ZeroOverIpv6)
        {
            repr = default;
            error = WireError.BadField;
            return false;
        }
        repr = new UdpRepr
        {
            SourcePort = header.SourcePort,
            DestinationPort = header.DestinationPort,
            PayloadLength = header.Length - UdpHeader.HeaderLength,
        };
        error = WireError.None;
        return true;
    }

    /// <summary>Header bytes <see cref="Emit"/> writes (8).</summary>
    public readonly int BufferLength => UdpHeader.HeaderLength;

    /// <summary>
    /// Writes the 8-byte header with length 8 + <see cref="PayloadLength"/> and checksum 0 (truncated to 16
    /// bits: keep <see cref="PayloadLength"/> within 0..65527).
    /// </summary>
    public readonly void Emit(Span<byte> buffer)
    {
        Span<byte> header = buffer[..UdpHeader.HeaderLength];
        BinaryPrimitives.WriteUInt16BigEndian(header[UdpHeader.SourcePortOffset..], SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(header[UdpHeader.DestinationPortOffset..], DestinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(header[UdpHeader.LengthOffset..], (ushort)(UdpHeader.HeaderLength + PayloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(header[UdpHeader.ChecksumOffset..], 0);
    }
}
