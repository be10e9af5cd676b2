// Helpers of the simulation tests: packets built with PacketDotNet, an independent checksum validator, a collecting sink.
using System.Buffers.Binary;
using System.Net;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using PacketDotNet;

namespace NetStack.Tests.LinkEndpoint.Simulation;

/// <summary>Valid IPv4/IPv6 TCP/UDP packets built with PacketDotNet, and a checksum validator written independently of it.</summary>
internal static class TestPackets
{
    private static readonly IPAddress V4A = IPAddress.Parse("10.0.0.1");
    private static readonly IPAddress V4B = IPAddress.Parse("10.0.0.2");
    private static readonly IPAddress V6A = IPAddress.Parse("fd00::1");
    private static readonly IPAddress V6B = IPAddress.Parse("fd00::2");

    public static byte[] Payload(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    public static byte[] Ipv4Tcp(uint sequence, int payloadLength, int seed = 1)
    {
        var tcp = new TcpPacket(40000, 50080) /* no well-known port: tshark must not parse the payload as HTTP */
        {
            SequenceNumber = sequence,
            AcknowledgmentNumber = 1000,
            Acknowledgment = true,
            Push = payloadLength > 0,
            WindowSize = 64240,
            PayloadData = Payload(payloadLength, seed),
        };
        var ip = new IPv4Packet(V4A, V4B) { TimeToLive = 64, Id = (ushort)sequence, PayloadPacket = tcp };
        ip.UpdateCalculatedValues();
        tcp.UpdateTcpChecksum();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }

    public static byte[] Ipv4Udp(int payloadLength, int seed = 2)
    {
        var udp = new UdpPacket(50000, 50001) /* no well-known port: tshark must not parse the random payload as DNS */ { PayloadData = Payload(payloadLength, seed) };
        var ip = new IPv4Packet(V4A, V4B) { TimeToLive = 64, PayloadPacket = udp };
        ip.UpdateCalculatedValues();
        udp.UpdateCalculatedValues();
        udp.UpdateUdpChecksum();
        ip.UpdateIPChecksum();
        return ip.Bytes;
    }

    public static byte[] Ipv6Tcp(uint sequence, int payloadLength, int seed = 3)
    {
        var tcp = new TcpPacket(40001, 50443)
        {
            SequenceNumber = sequence,
            AcknowledgmentNumber = 7,
            Acknowledgment = true,
            WindowSize = 65535,
            PayloadData = Payload(payloadLength, seed),
        };
        var ip = new IPv6Packet(V6A, V6B) { HopLimit = 64, PayloadPacket = tcp };
        ip.UpdateCalculatedValues();
        tcp.UpdateTcpChecksum();
        return ip.Bytes;
    }

    public static byte[] Ipv6Udp(int payloadLength, int seed = 4)
    {
        var udp = new UdpPacket(50002, 50003) { PayloadData = Payload(payloadLength, seed) };
        var ip = new IPv6Packet(V6A, V6B) { HopLimit = 64, PayloadPacket = udp };
        ip.UpdateCalculatedValues();
        udp.UpdateCalculatedValues();
        udp.UpdateUdpChecksum();
        return ip.Bytes;
    }

    /// <summary>A small IPv4 UDP packet whose payload carries <paramref name="index"/>, for sequence checks.</summary>
    public static byte[] Numbered(int index, int payloadLength = 16)
    {
        byte[] p = Ipv4Udp(Math.Max(payloadLength, 4), seed: index);
        BinaryPrimitives.WriteInt32BigEndian(p.AsSpan(28), index);
        FixUdpChecksumV4(p);
        return p;
    }

    /// <summary>The index written by <see cref="Numbered"/>.</summary>
    public static int IndexOf(byte[] packet) => BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(28));

    /// <summary>
    /// A packet in <paramref name="pieces"/> fragments: the head holds the first cut, later pieces are appended by
    /// reference from other buffers (released here, so only the chunks stay referenced).
    /// </summary>
    public static PacketBuffer Fragmented(PacketBufferPool pool, byte[] bytes, params int[] cuts)
    {
        int first = cuts.Length > 0 ? cuts[0] : bytes.Length;
        PacketBuffer head = pool.RentCopy(bytes.AsSpan(0, first));
        int start = first;
        for (int i = 1; i <= cuts.Length; i++)
        {
            int end = i < cuts.Length ? cuts[i] : bytes.Length;
            using PacketBuffer piece = pool.RentCopy(bytes.AsSpan(start, end - start));
            Assert.True(head.AppendReference(piece, 0, piece.Length));
            start = end;
        }
        head.NetworkProtocol = (bytes[0] >> 4) == 6 ? NetStack.Wire.NetworkProtocol.IPv6 : NetStack.Wire.NetworkProtocol.IPv4;
        return head;
    }

    /// <summary>True when the IP header and the TCP/UDP checksum (over the pseudo-header) are consistent.</summary>
    public static bool ChecksumsValid(ReadOnlySpan<byte> p)
    {
        if (p.Length < 20)
        {
            return false;
        }
        int version = p[0] >> 4;
        ReadOnlySpan<byte> l4;
        byte protocol;
        Span<byte> pseudo = stackalloc byte[40];
        if (version == 4)
        {
            int ihl = (p[0] & 0xF) * 4;
            if (ihl < 20 || p.Length < ihl || BinaryPrimitives.ReadUInt16BigEndian(p[2..]) != p.Length
                || InternetChecksum.Compute(p[..ihl]) != 0)
            {
                return false;
            }
            protocol = p[9];
            l4 = p[ihl..];
            p.Slice(12, 8).CopyTo(pseudo);
            pseudo[8] = 0;
            pseudo[9] = protocol;
            BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)l4.Length);
            pseudo = pseudo[..12];
        }
        else if (version == 6)
        {
            if (p.Length < 40 || 40 + BinaryPrimitives.ReadUInt16BigEndian(p[4..]) != p.Length)
            {
                return false;
            }
            protocol = p[6];
            l4 = p[40..];
            p.Slice(8, 32).CopyTo(pseudo);
            BinaryPrimitives.WriteUInt32BigEndian(pseudo[32..], (uint)l4.Length);
            pseudo[36] = pseudo[37] = pseudo[38] = 0;
            pseudo[39] = protocol;
        }
        else
        {
            return false;
        }
        if (protocol == 17)
        {
            if (l4.Length < 8 || BinaryPrimitives.ReadUInt16BigEndian(l4[4..]) != l4.Length)
            {
                return false;
            }
            if (version == 4 && BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) == 0)
            {
                return true; // RFC 768: no checksum
            }
        }
        else if (protocol != 6 || l4.Length < 20)
        {
            return false;
        }
        return InternetChecksum.Compute(l4, InternetChecksum.Sum(pseudo)) == 0;
    }

    private static void FixUdpChecksumV4(byte[] p)
    {
        Span<byte> udp = p.AsSpan(20);
        udp[6] = udp[7] = 0;
        Span<byte> pseudo = stackalloc byte[12];
        p.AsSpan(12, 8).CopyTo(pseudo);
        pseudo[8] = 0;
        pseudo[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)udp.Length);
        ushort sum = InternetChecksum.Compute(udp, InternetChecksum.Sum(pseudo));
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], sum == 0 ? (ushort)0xFFFF : sum);
    }
}

/// <summary>A sink that records what arrives (bytes, the packet object, the clock) and releases each packet.</summary>
internal sealed class CollectingSink(TimeProvider? time = null) : IPacketSink
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly object _gate = new();

    public List<Received> Packets { get; } = [];

    public int Flushes { get; private set; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return Packets.Count;
            }
        }
    }

    public void Enqueue(PacketBuffer packet)
    {
        var r = new Received(packet.ToArray(), _time.GetUtcNow(), packet, packet.RxChecksumValidated);
        lock (_gate)
        {
            Packets.Add(r);
        }
        packet.Release();
    }

    public void Flush() => Flushes++;

    public List<byte[]> Bytes()
    {
        lock (_gate)
        {
            return Packets.Select(p => p.Bytes).ToList();
        }
    }

    public List<int> Indexes()
    {
        lock (_gate)
        {
            return Packets.Select(p => TestPackets.IndexOf(p.Bytes)).ToList();
        }
    }

    internal sealed record Received(byte[] Bytes, DateTimeOffset At, PacketBuffer Packet, bool RxChecksumValidated);
}
