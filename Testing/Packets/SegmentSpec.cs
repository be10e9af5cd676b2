// Builds exact TCP/IPv4 and TCP/IPv6 packets (GRO, GSO and TCP tests), every header field settable.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Testing.Packets;

/// <summary>One IPv6 extension header of a spec; its first byte (next header) is filled in by the builder.</summary>
public sealed record ExtensionSpec(IpProtocol Type, byte[] Bytes);

/// <summary>Every header field of a TCP segment over IPv4 or IPv6, and its payload. Checksums are computed by <see cref="Build"/>.</summary>
public sealed record SegmentSpec
{
    /// <summary>RFC 7323 §3: NOP, NOP, TSopt (kind 8, length 10, TSval, TSecr).</summary>
    public static byte[] Timestamps(uint value, uint echo)
    {
        var bytes = new byte[12];
        bytes[0] = 1;
        bytes[1] = 1;
        bytes[2] = 8;
        bytes[3] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), value);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), echo);
        return bytes;
    }

    /// <summary>A destination options header (RFC 8200 §4.6) of 8 bytes padded with PadN carrying <paramref name="pad"/>.</summary>
    public static ExtensionSpec DestinationOptions(byte pad = 0) =>
        new(IpProtocol.Ipv6DestinationOptions, [0, 0, 1, 4, pad, 0, 0, 0]);

    /// <summary>IPv6 when true, else IPv4.</summary>
    public bool V6 { get; init; }
    /// <summary>IPv4 source address (4 bytes).</summary>
    public byte[] Source { get; init; } = [10, 0, 0, 1];
    /// <summary>IPv4 destination address (4 bytes).</summary>
    public byte[] Destination { get; init; } = [10, 0, 0, 2];
    /// <summary>IPv6 source address (16 bytes).</summary>
    public byte[] Source6 { get; init; } = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    /// <summary>IPv6 destination address (16 bytes).</summary>
    public byte[] Destination6 { get; init; } = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    /// <summary>TCP source port.</summary>
    public ushort SourcePort { get; init; } = 40000;
    /// <summary>TCP destination port.</summary>
    public ushort DestinationPort { get; init; } = 5201;
    /// <summary>TCP sequence number.</summary>
    public uint Sequence { get; init; } = 1000;
    /// <summary>TCP acknowledgment number.</summary>
    public uint Acknowledgment { get; init; } = 77777;
    /// <summary>TCP control bits (9 bits).</summary>
    public TcpFlags Flags { get; init; } = TcpFlags.Ack;
    /// <summary>The 3 reserved bits of the TCP header (0–7).</summary>
    public int TcpReserved { get; init; }
    /// <summary>TCP window field.</summary>
    public ushort Window { get; init; } = 502;
    /// <summary>TCP urgent pointer field.</summary>
    public ushort UrgentPointer { get; init; }
    /// <summary>TCP option bytes, a multiple of 4 long (default: NOP, NOP, timestamps).</summary>
    public byte[] TcpOptions { get; init; } = Timestamps(100, 200);
    /// <summary>IPv4 TTL or IPv6 hop limit.</summary>
    public byte Ttl { get; init; } = 64;
    /// <summary>IPv4 TOS or IPv6 traffic class (DSCP and ECN).</summary>
    public byte Tos { get; init; }
    /// <summary>IPv6 flow label (20 bits).</summary>
    public uint FlowLabel { get; init; } = 0x12345;
    /// <summary>IPv4 identification.</summary>
    public ushort Identification { get; init; } = 4242;
    /// <summary>IPv4 DF flag.</summary>
    public bool DontFragment { get; init; } = true;
    /// <summary>IPv4 reserved (evil) flag.</summary>
    public bool ReservedFlag { get; init; }
    /// <summary>IPv4 MF flag.</summary>
    public bool MoreFragments { get; init; }
    /// <summary>IPv4 fragment offset in bytes (a multiple of 8).</summary>
    public int FragmentOffset { get; init; }
    /// <summary>IPv4 option bytes, a multiple of 4 long.</summary>
    public byte[] Ipv4Options { get; init; } = [];
    /// <summary>IPv6 extension headers before TCP (next-header bytes are linked by the builder).</summary>
    public ExtensionSpec[] Extensions { get; init; } = [];
    /// <summary>TCP payload.</summary>
    public byte[] Payload { get; init; } = [];
    /// <summary>For harnesses that rent the packet: when false, RX validation is skipped (RxChecksumValidated stays false).</summary>
    public bool Validated { get; init; } = true;
    /// <summary>For harnesses that rent the packet: bytes of payload kept in the head, the rest attached by reference (-1: all in the head).</summary>
    public int HeadPayload { get; init; } = -1;

    /// <summary>Offset of the TCP header: the IP header and extension headers.</summary>
    public int TcpOffset => V6 ? 40 + Extensions.Sum(e => e.Bytes.Length) : 20 + Ipv4Options.Length;

    /// <summary>Length of every header (IP, extensions, TCP with options).</summary>
    public int HeaderLength => TcpOffset + 20 + TcpOptions.Length;

    /// <summary>Length of the whole packet.</summary>
    public int Length => HeaderLength + Payload.Length;

    /// <summary>The spec of the segment that follows this one with <paramref name="payload"/> (contiguous sequence, next IPv4 ID).</summary>
    public SegmentSpec Next(byte[] payload) => this with
    {
        Sequence = Sequence + (uint)Payload.Length,
        Identification = (ushort)(Identification + 1),
        Payload = payload,
    };

    /// <summary>The packet bytes, with the IPv4 header checksum and the TCP checksum computed.</summary>
    public byte[] Build()
    {
        if (TcpOptions.Length % 4 != 0 || Ipv4Options.Length % 4 != 0)
        {
            throw new InvalidOperationException("options must be padded to 4 bytes");
        }
        var packet = new byte[Length];
        Span<byte> p = packet;
        int tcpOffset = TcpOffset;
        int tcpLength = packet.Length - tcpOffset;
        if (!V6)
        {
            p[0] = (byte)(0x40 | ((20 + Ipv4Options.Length) / 4));
            p[1] = Tos;
            BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)packet.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p[4..], Identification);
            ushort fragment = (ushort)((ReservedFlag ? 0x8000 : 0) | (DontFragment ? 0x4000 : 0) | (MoreFragments ? 0x2000 : 0) | (FragmentOffset / 8));
            BinaryPrimitives.WriteUInt16BigEndian(p[6..], fragment);
            p[8] = Ttl;
            p[9] = (byte)IpProtocol.Tcp;
            Source.CopyTo(p[12..]);
            Destination.CopyTo(p[16..]);
            Ipv4Options.CopyTo(p[20..]);
            Ipv4Header.RecomputeChecksum(p);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(p, 0x6000_0000u | ((uint)Tos << 20) | (FlowLabel & 0xFFFFF));
            BinaryPrimitives.WriteUInt16BigEndian(p[4..], (ushort)(packet.Length - 40));
            p[6] = (byte)(Extensions.Length > 0 ? Extensions[0].Type : IpProtocol.Tcp);
            p[7] = Ttl;
            Source6.CopyTo(p[8..]);
            Destination6.CopyTo(p[24..]);
            int offset = 40;
            for (int i = 0; i < Extensions.Length; i++)
            {
                Extensions[i].Bytes.CopyTo(p[offset..]);
                p[offset] = (byte)(i + 1 < Extensions.Length ? Extensions[i + 1].Type : IpProtocol.Tcp);
                offset += Extensions[i].Bytes.Length;
            }
        }
        Span<byte> tcp = p[tcpOffset..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], DestinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], Sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], Acknowledgment);
        ushort word = (ushort)((((20 + TcpOptions.Length) / 4) << 12) | ((TcpReserved & 7) << 9) | ((ushort)Flags & 0x1FF));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[12..], word);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], Window);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[18..], UrgentPointer);
        TcpOptions.CopyTo(tcp[20..]);
        Payload.CopyTo(tcp[(20 + TcpOptions.Length)..]);
        uint pseudo = V6
            ? InternetChecksum.PseudoHeaderSumV6(Source6, Destination6, (byte)IpProtocol.Tcp, tcpLength)
            : InternetChecksum.PseudoHeaderSumV4(Source, Destination, (byte)IpProtocol.Tcp, tcpLength);
        TcpHeader.WriteChecksum(tcp, pseudo);
        return packet;
    }

    /// <summary>A payload of <paramref name="length"/> bytes that differ from segment to segment (seeded).</summary>
    public static byte[] Data(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
