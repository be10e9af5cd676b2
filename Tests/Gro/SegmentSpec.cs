// Builds exact TCP/IPv4 and TCP/IPv6 packets for the GRO and GSO tests, every field settable.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

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

    public bool V6 { get; init; }
    public byte[] Source { get; init; } = [10, 0, 0, 1];
    public byte[] Destination { get; init; } = [10, 0, 0, 2];
    public byte[] Source6 { get; init; } = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    public byte[] Destination6 { get; init; } = [0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    public ushort SourcePort { get; init; } = 40000;
    public ushort DestinationPort { get; init; } = 5201;
    public uint Sequence { get; init; } = 1000;
    public uint Acknowledgment { get; init; } = 77777;
    public TcpFlags Flags { get; init; } = TcpFlags.Ack;
    public int TcpReserved { get; init; }
    public ushort Window { get; init; } = 502;
    public ushort UrgentPointer { get; init; }
    public byte[] TcpOptions { get; init; } = Timestamps(100, 200);
    public byte Ttl { get; init; } = 64;
    public byte Tos { get; init; }
    public uint FlowLabel { get; init; } = 0x12345;
    public ushort Identification { get; init; } = 4242;
    public bool DontFragment { get; init; } = true;
    public bool ReservedFlag { get; init; }
    public bool MoreFragments { get; init; }
    public int FragmentOffset { get; init; }
    public byte[] Ipv4Options { get; init; } = [];
    public ExtensionSpec[] Extensions { get; init; } = [];
    public byte[] Payload { get; init; } = [];
    /// <summary>When false the packet is rented without RX validation (RxChecksumValidated stays false).</summary>
    public bool Validated { get; init; } = true;
    /// <summary>Bytes of payload kept in the head when renting; the rest is attached by reference (-1: all in the head).</summary>
    public int HeadPayload { get; init; } = -1;

    public int TcpOffset => V6 ? 40 + Extensions.Sum(e => e.Bytes.Length) : 20 + Ipv4Options.Length;

    public int HeaderLength => TcpOffset + 20 + TcpOptions.Length;

    public int Length => HeaderLength + Payload.Length;

    /// <summary>The spec of the segment that follows this one with <paramref name="payload"/> (contiguous sequence, next IPv4 ID).</summary>
    public SegmentSpec Next(byte[] payload) => this with
    {
        Sequence = Sequence + (uint)Payload.Length,
        Identification = (ushort)(Identification + 1),
        Payload = payload,
    };

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

    /// <summary>Rents the packet from <paramref name="pool"/> and runs the channel endpoint's RX validation on it (unless <see cref="Validated"/> is false).</summary>
    public PacketBuffer Rent(PacketBufferPool pool) => RentBytes(pool, Build(), HeadPayload < 0 ? -1 : HeaderLength + HeadPayload, Validated);

    /// <summary>Rents <paramref name="bytes"/>, the first <paramref name="headLength"/> in the head and the rest by reference (-1: all in the head).</summary>
    public static PacketBuffer RentBytes(PacketBufferPool pool, byte[] bytes, int headLength, bool validate)
    {
        PacketBuffer packet;
        if (headLength < 0 || headLength >= bytes.Length)
        {
            packet = pool.RentCopy(bytes);
        }
        else
        {
            packet = pool.RentCopy(bytes.AsSpan(0, headLength));
            using PacketBuffer rest = pool.RentCopy(bytes.AsSpan(headLength));
            Assert.True(packet.AppendReference(rest, 0, rest.Length));
        }
        if (validate)
        {
            RxVerdict verdict = RxChecksumValidator.Validate(packet, out RxDropReason reason);
            Assert.NotEqual(RxVerdict.Drop, verdict);
            Assert.Equal(RxDropReason.None, reason);
        }
        else
        {
            packet.NetworkProtocol = (bytes[0] >> 4) == 6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
        }
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
