using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Tests.Support;

/// <summary>Builds exact, valid IPv4/IPv6 + TCP/UDP packets for tests from the wire reprs.</summary>
public static class Packets
{
    public const uint V4A = 0x0A00_0001; // 10.0.0.1
    public const uint V4B = 0x0A00_0002; // 10.0.0.2
    public static readonly UInt128 V6A = new(0xFD00_0000_0000_0000, 1); // fd00::1
    public static readonly UInt128 V6B = new(0xFD00_0000_0000_0000, 2); // fd00::2

    public static TcpRepr Tcp(uint seq = 1000, uint ack = 2000, TcpFlags flags = TcpFlags.Ack, ushort sport = 40000, ushort dport = 80) => new()
    {
        SourcePort = sport,
        DestinationPort = dport,
        SequenceNumber = seq,
        AcknowledgmentNumber = ack,
        Flags = flags,
        WindowSize = 65535,
    };

    public static byte[] Ipv4Tcp(TcpRepr tcp, ReadOnlySpan<byte> payload, uint src = V4A, uint dst = V4B, byte ttl = 64, ushort id = 1)
    {
        var ip = new Ipv4Repr { Source = src, Destination = dst, Protocol = IpProtocol.Tcp, TimeToLive = ttl, Identification = id, DontFragment = true, PayloadLength = tcp.BufferLength + payload.Length };
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        Span<byte> segment = packet.AsSpan(ip.HeaderLength);
        tcp.Emit(segment);
        payload.CopyTo(segment[tcp.BufferLength..]);
        TcpHeader.WriteChecksum(segment, InternetChecksum.PseudoHeaderSumV4(packet.AsSpan(12, 4), packet.AsSpan(16, 4), (byte)IpProtocol.Tcp, segment.Length));
        return packet;
    }

    public static byte[] Ipv6Tcp(TcpRepr tcp, ReadOnlySpan<byte> payload, UInt128? src = null, UInt128? dst = null, byte hopLimit = 64)
    {
        var ip = new Ipv6Repr { Source = src ?? V6A, Destination = dst ?? V6B, NextHeader = IpProtocol.Tcp, HopLimit = hopLimit, PayloadLength = tcp.BufferLength + payload.Length };
        var packet = new byte[Ipv6Repr.BufferLength + ip.PayloadLength];
        ip.Emit(packet);
        Span<byte> segment = packet.AsSpan(Ipv6Repr.BufferLength);
        tcp.Emit(segment);
        payload.CopyTo(segment[tcp.BufferLength..]);
        TcpHeader.WriteChecksum(segment, InternetChecksum.PseudoHeaderSumV6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), (byte)IpProtocol.Tcp, segment.Length));
        return packet;
    }

    public static byte[] Ipv4Udp(ReadOnlySpan<byte> payload, ushort sport = 5000, ushort dport = 53, uint src = V4A, uint dst = V4B, bool checksum = true)
    {
        var ip = new Ipv4Repr { Source = src, Destination = dst, Protocol = IpProtocol.Udp, TimeToLive = 64, PayloadLength = UdpHeader.HeaderLength + payload.Length };
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        Span<byte> datagram = packet.AsSpan(ip.HeaderLength);
        new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length }.Emit(datagram);
        payload.CopyTo(datagram[UdpHeader.HeaderLength..]);
        if (checksum)
        {
            UdpHeader.WriteChecksum(datagram, InternetChecksum.PseudoHeaderSumV4(packet.AsSpan(12, 4), packet.AsSpan(16, 4), (byte)IpProtocol.Udp, datagram.Length));
        }
        return packet;
    }

    public static byte[] Ipv6Udp(ReadOnlySpan<byte> payload, ushort sport = 5000, ushort dport = 53, bool checksum = true)
    {
        var ip = new Ipv6Repr { Source = V6A, Destination = V6B, NextHeader = IpProtocol.Udp, HopLimit = 64, PayloadLength = UdpHeader.HeaderLength + payload.Length };
        var packet = new byte[Ipv6Repr.BufferLength + ip.PayloadLength];
        ip.Emit(packet);
        Span<byte> datagram = packet.AsSpan(Ipv6Repr.BufferLength);
        new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length }.Emit(datagram);
        payload.CopyTo(datagram[UdpHeader.HeaderLength..]);
        if (checksum)
        {
            UdpHeader.WriteChecksum(datagram, InternetChecksum.PseudoHeaderSumV6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), (byte)IpProtocol.Udp, datagram.Length));
        }
        return packet;
    }

    /// <summary>Inserts IPv6 extension-header bytes (already chained: their first byte is the next header) after the fixed header.</summary>
    public static byte[] WithIpv6Extensions(byte[] packet, IpProtocol first, ReadOnlySpan<byte> extensions)
    {
        var result = new byte[packet.Length + extensions.Length];
        packet.AsSpan(0, 40).CopyTo(result);
        extensions.CopyTo(result.AsSpan(40));
        packet.AsSpan(40).CopyTo(result.AsSpan(40 + extensions.Length));
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(4), (ushort)(result.Length - 40));
        result[6] = (byte)first;
        return result;
    }

    public static byte[] Payload(int length, int seed = 1)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
