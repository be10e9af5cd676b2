// The packets the seed corpus starts from, built with the wire reprs (no captured traffic): valid packets of
// every shape the parsers know, then truncated and corrupted variants of some of them.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Fuzz.Seeds;

/// <summary>Builds named raw IP packets for the seed corpus.</summary>
public static class SeedPackets
{
    private const uint V4A = 0x0A00_0001; // 10.0.0.1
    private const uint V4B = 0x0A00_0002; // 10.0.0.2
    private static readonly UInt128 V6A = new(0xFD00_0000_0000_0000, 1); // fd00::1
    private static readonly UInt128 V6B = new(0xFD00_0000_0000_0000, 2); // fd00::2

    /// <summary>Every seed packet with a file-name-friendly name, valid ones first.</summary>
    public static IReadOnlyList<(string Name, byte[] Packet)> All()
    {
        var list = new List<(string, byte[])>();
        TcpRepr syn = Tcp(TcpFlags.Syn, seq: 0x1000_0000, ack: 0);
        syn.MaxSegmentSize = 1460;
        syn.SackPermitted = true;
        syn.Timestamps = new TcpTimestamps(0x0102_0304, 0);
        syn.WindowScale = 7;
        list.Add(("ipv4-tcp-syn-all-options", Ipv4(IpProtocol.Tcp, TcpSegment(syn, [], v6: false))));
        TcpRepr synAck = syn with { Flags = TcpFlags.Syn | TcpFlags.Ack, AcknowledgmentNumber = 0x1000_0001, WindowScale = 14 };
        list.Add(("ipv6-tcp-synack-all-options", Ipv6(IpProtocol.Tcp, TcpSegment(synAck, [], v6: true))));

        TcpRepr sack = Tcp(TcpFlags.Ack, seq: 5000, ack: 9000);
        sack.Timestamps = new TcpTimestamps(77, 66);
        sack.SackBlocks.TryAdd(new TcpSackBlock(10_000, 11_000));
        sack.SackBlocks.TryAdd(new TcpSackBlock(12_000, 13_448));
        sack.SackBlocks.TryAdd(new TcpSackBlock(20_000, 20_001));
        list.Add(("ipv4-tcp-ack-sack3-timestamps", Ipv4(IpProtocol.Tcp, TcpSegment(sack, Payload(100, 1), v6: false))));
        TcpRepr sack4 = Tcp(TcpFlags.Ack | TcpFlags.Psh, seq: 1, ack: 2);
        for (uint i = 0; i < 4; i++)
        {
            sack4.SackBlocks.TryAdd(new TcpSackBlock(100 * i, (100 * i) + 50));
        }
        list.Add(("ipv4-tcp-psh-sack4-odd-payload", Ipv4(IpProtocol.Tcp, TcpSegment(sack4, Payload(33, 2), v6: false))));
        list.Add(("ipv6-tcp-data-300", Ipv6(IpProtocol.Tcp, TcpSegment(Tcp(TcpFlags.Ack, 7, 8) with { Timestamps = new TcpTimestamps(1, 2) }, Payload(300, 3), v6: true))));
        list.Add(("ipv4-tcp-fin-rst-urg", Ipv4(IpProtocol.Tcp, TcpSegment(Tcp(TcpFlags.Fin | TcpFlags.Rst | TcpFlags.Urg | TcpFlags.Ack, 9, 10) with { UrgentPointer = 3 }, Payload(5, 4), v6: false))));

        // IPv4 with options: router alert (RFC 2113), NOP, a timestamp-like option, EOL padding.
        byte[] v4Options = [0x94, 0x04, 0x00, 0x00, 0x01, 0x44, 0x08, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        list.Add(("ipv4-options-udp", Ipv4(IpProtocol.Udp, UdpDatagram(Payload(20, 5), v6: false), options: v4Options)));
        list.Add(("ipv4-udp-64", Ipv4(IpProtocol.Udp, UdpDatagram(Payload(64, 6), v6: false))));
        list.Add(("ipv4-udp-zero-checksum", Ipv4(IpProtocol.Udp, UdpDatagram(Payload(11, 7), v6: false, checksum: false))));
        list.Add(("ipv6-udp-17", Ipv6(IpProtocol.Udp, UdpDatagram(Payload(17, 8), v6: true))));

        // Fragments (RFC 791 §3.2, RFC 8200 §4.5): first and later fragments.
        byte[] datagram = UdpDatagram(Payload(120, 9), v6: false);
        list.Add(("ipv4-fragment-first", Ipv4(IpProtocol.Udp, datagram.AsSpan(0, 64).ToArray(), moreFragments: true)));
        list.Add(("ipv4-fragment-last", Ipv4(IpProtocol.Udp, datagram.AsSpan(64).ToArray(), fragmentOffset: 64)));

        // IPv6 extension chain (RFC 8200 §4.1 order): hop-by-hop, routing, fragment (atomic), destination options, UDP.
        byte[] chain = Ipv6Chain(IpProtocol.Udp, UdpDatagram(Payload(24, 10), v6: true), out IpProtocol first);
        list.Add(("ipv6-hbh-route-frag-dest-udp", Ipv6(first, chain)));
        byte[] laterFragment = new byte[8 + 48];
        new Ipv6FragmentRepr { NextHeader = IpProtocol.Tcp, FragmentOffset = 1232, MoreFragments = true, Identification = 0xCAFE_F00D }.Emit(laterFragment);
        Payload(48, 11).CopyTo(laterFragment, 8);
        list.Add(("ipv6-fragment-later", Ipv6(IpProtocol.Ipv6Fragment, laterFragment)));

        // ICMP: echo and errors quoting the invoking packet.
        list.Add(("ipv4-icmp-echo-request", Ipv4(IpProtocol.Icmp, IcmpV4(IcmpV4Repr.EchoRequest(0x1234, 1), Payload(56, 12)))));
        byte[] invoking = Ipv4(IpProtocol.Udp, UdpDatagram(Payload(200, 13), v6: false));
        list.Add(("ipv4-icmp-frag-needed", Ipv4(IpProtocol.Icmp, IcmpV4(IcmpV4Repr.FragmentationNeeded(1400), invoking.AsSpan(0, 28)))));
        list.Add(("ipv4-icmp-parameter-problem", Ipv4(IpProtocol.Icmp, IcmpV4(IcmpV4Repr.ParameterProblem(20), invoking.AsSpan(0, 28)))));
        list.Add(("ipv6-icmp-echo-reply", Ipv6(IpProtocol.IcmpV6, IcmpV6(IcmpV6Repr.EchoReply(7, 9), Payload(32, 14)))));
        byte[] invoking6 = Ipv6(IpProtocol.Tcp, TcpSegment(Tcp(TcpFlags.Ack, 1, 1), Payload(1300, 15), v6: true));
        list.Add(("ipv6-icmp-packet-too-big", Ipv6(IpProtocol.IcmpV6, IcmpV6(IcmpV6Repr.PacketTooBig(1280), invoking6.AsSpan(0, 72)))));
        list.Add(("ipv6-icmp-time-exceeded", Ipv6(IpProtocol.IcmpV6, IcmpV6(IcmpV6Repr.TimeExceeded(0), invoking6.AsSpan(0, 48)))));
        list.Add(("ipv6-icmp-neighbor-solicitation", Ipv6(IpProtocol.IcmpV6, IcmpV6(new IcmpV6Repr { Type = IcmpV6Type.NeighborSolicitation }, Payload(16, 16)))));

        // Truncated and corrupted variants.
        byte[] good = Ipv4(IpProtocol.Tcp, TcpSegment(sack, Payload(40, 17), v6: false));
        list.Add(("bad-ipv4-header-checksum", Corrupt(good, 8, 0x01)));
        list.Add(("bad-ipv4-tcp-checksum", Corrupt(good, good.Length - 1, 0x80)));
        list.Add(("bad-ipv4-truncated", good.AsSpan(0, good.Length - 10).ToArray()));
        list.Add(("bad-ipv4-link-padding", [.. good, 0, 0, 0, 0, 0, 0]));
        byte[] badOffset = (byte[])good.Clone();
        badOffset[20 + 12] = 0x40; // TCP data offset 16, below the 20-byte minimum
        list.Add(("bad-ipv4-tcp-data-offset", badOffset));
        byte[] badOption = Ipv4(IpProtocol.Tcp, TcpSegment(syn, [], v6: false));
        badOption[20 + 20 + 1] = 3; // MSS option length 3
        list.Add(("bad-ipv4-tcp-mss-length", badOption));
        list.Add(("bad-ipv6-udp-zero-checksum", Ipv6(IpProtocol.Udp, UdpDatagram(Payload(9, 18), v6: true, checksum: false))));
        list.Add(("bad-ipv6-jumbogram", Jumbogram()));
        list.Add(("bad-ipv6-chain-too-long", LongChain(17)));
        byte[] shortIp6 = Ipv6(IpProtocol.Udp, UdpDatagram(Payload(30, 19), v6: true));
        list.Add(("bad-ipv6-payload-length", shortIp6.AsSpan(0, shortIp6.Length - 3).ToArray()));
        return list;
    }

    /// <summary>The transport part of an IPv4 packet (after IHL·4) or an IPv6 packet (after the extension chain).</summary>
    public static ReadOnlySpan<byte> Transport(byte[] packet, out IpProtocol protocol)
    {
        protocol = default;
        if (Ipv4Header.TryCreate(packet, out Ipv4Header v4, out _))
        {
            protocol = v4.Protocol;
            return v4.IsFragment && v4.FragmentOffset != 0 ? default : packet.AsSpan(v4.HeaderLength, v4.Payload.Length);
        }
        if (Ipv6Header.TryCreate(packet, out Ipv6Header v6, out _) && Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _))
        {
            protocol = chain.UpperLayerProtocol;
            return chain.IsFragment && chain.FragmentOffset != 0 ? default : packet.AsSpan(Ipv6Header.Length + chain.UpperLayerOffset, v6.PayloadLength - chain.UpperLayerOffset);
        }
        return default;
    }

    /// <summary>Deterministic pseudo-random payload bytes.</summary>
    public static byte[] Payload(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static TcpRepr Tcp(TcpFlags flags, uint seq, uint ack) => new()
    {
        SourcePort = 40000,
        DestinationPort = 443,
        SequenceNumber = seq,
        AcknowledgmentNumber = ack,
        Flags = flags,
        WindowSize = 64240,
    };

    // A TCP segment with its checksum over the pseudo-header of the addresses Ipv4/Ipv6 below use.
    private static byte[] TcpSegment(TcpRepr tcp, ReadOnlySpan<byte> payload, bool v6)
    {
        var segment = new byte[tcp.BufferLength + payload.Length];
        tcp.Emit(segment);
        payload.CopyTo(segment.AsSpan(tcp.BufferLength));
        TcpHeader.WriteChecksum(segment, Pseudo(IpProtocol.Tcp, segment.Length, v6));
        return segment;
    }

    private static byte[] UdpDatagram(ReadOnlySpan<byte> payload, bool v6, bool checksum = true)
    {
        var datagram = new byte[UdpHeader.HeaderLength + payload.Length];
        new UdpRepr { SourcePort = 5353, DestinationPort = 53, PayloadLength = payload.Length }.Emit(datagram);
        payload.CopyTo(datagram.AsSpan(UdpHeader.HeaderLength));
        if (checksum)
        {
            UdpHeader.WriteChecksum(datagram, Pseudo(IpProtocol.Udp, datagram.Length, v6));
        }
        return datagram;
    }

    private static byte[] IcmpV4(IcmpV4Repr repr, ReadOnlySpan<byte> payload)
    {
        var message = new byte[repr.BufferLength + payload.Length];
        repr.Emit(message);
        payload.CopyTo(message.AsSpan(repr.BufferLength));
        IcmpV4Header.WriteChecksum(message);
        return message;
    }

    private static byte[] IcmpV6(IcmpV6Repr repr, ReadOnlySpan<byte> payload)
    {
        var message = new byte[repr.BufferLength + payload.Length];
        repr.Emit(message);
        payload.CopyTo(message.AsSpan(repr.BufferLength));
        IcmpV6Header.WriteChecksum(message, Pseudo(IpProtocol.IcmpV6, message.Length, v6: true));
        return message;
    }

    private static uint Pseudo(IpProtocol protocol, int length, bool v6)
    {
        Span<byte> a = stackalloc byte[16];
        Span<byte> b = stackalloc byte[16];
        if (v6)
        {
            BinaryPrimitives.WriteUInt128BigEndian(a, V6A);
            BinaryPrimitives.WriteUInt128BigEndian(b, V6B);
            return InternetChecksum.PseudoHeaderSumV6(a, b, (byte)protocol, length);
        }
        BinaryPrimitives.WriteUInt32BigEndian(a, V4A);
        BinaryPrimitives.WriteUInt32BigEndian(b, V4B);
        return InternetChecksum.PseudoHeaderSumV4(a, b, (byte)protocol, length);
    }

    private static byte[] Ipv4(IpProtocol protocol, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> options = default, bool moreFragments = false, int fragmentOffset = 0)
    {
        var ip = new Ipv4Repr
        {
            Source = V4A,
            Destination = V4B,
            Protocol = protocol,
            TimeToLive = 64,
            Identification = 0x4242,
            DontFragment = !moreFragments && fragmentOffset == 0,
            MoreFragments = moreFragments,
            FragmentOffset = fragmentOffset,
            PayloadLength = payload.Length,
        };
        ip.SetOptions(options);
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        payload.CopyTo(packet.AsSpan(ip.HeaderLength));
        return packet;
    }

    private static byte[] Ipv6(IpProtocol nextHeader, ReadOnlySpan<byte> payload)
    {
        var ip = new Ipv6Repr { Source = V6A, Destination = V6B, NextHeader = nextHeader, HopLimit = 64, FlowLabel = 0x12345, TrafficClass = 0xB8, PayloadLength = payload.Length };
        var packet = new byte[Ipv6Repr.BufferLength + payload.Length];
        ip.Emit(packet);
        payload.CopyTo(packet.AsSpan(Ipv6Repr.BufferLength));
        return packet;
    }

    private static byte[] Ipv6Chain(IpProtocol upper, ReadOnlySpan<byte> transport, out IpProtocol first)
    {
        byte[] hbhOptions = [Ipv6Option.RouterAlert, 2, 0, 0, Ipv6Option.PadN, 0];
        byte[] destOptions = [0x1E, 3, 0xAA, 0xBB, 0xCC, Ipv6Option.Pad1, Ipv6Option.Pad1, Ipv6Option.PadN, 2, 0, 0, 0];
        byte[] routingData = new byte[20];
        routingData[3] = 1;
        int length = Ipv6OptionsHeader.GetLength(hbhOptions.Length) + Ipv6RoutingHeader.GetLength(routingData.Length)
            + Ipv6FragmentRepr.BufferLength + Ipv6OptionsHeader.GetLength(destOptions.Length);
        var bytes = new byte[length + transport.Length];
        Span<byte> p = bytes;
        Ipv6OptionsHeader.Emit(p, IpProtocol.Ipv6Route, hbhOptions);
        p = p[Ipv6OptionsHeader.GetLength(hbhOptions.Length)..];
        Ipv6RoutingHeader.Emit(p, IpProtocol.Ipv6Fragment, routingType: 4, segmentsLeft: 0, routingData);
        p = p[Ipv6RoutingHeader.GetLength(routingData.Length)..];
        new Ipv6FragmentRepr { NextHeader = IpProtocol.Ipv6DestinationOptions, Identification = 0x0BAD_CAFE }.Emit(p);
        p = p[Ipv6FragmentRepr.BufferLength..];
        Ipv6OptionsHeader.Emit(p, upper, destOptions);
        transport.CopyTo(bytes.AsSpan(length));
        first = IpProtocol.HopByHop;
        return bytes;
    }

    private static byte[] Jumbogram()
    {
        // RFC 2675: payload length 0 and a Jumbo Payload option (C2, length 4) in the hop-by-hop header.
        byte[] hbh = [(byte)IpProtocol.Udp, 0, Ipv6Option.JumboPayload, 4, 0, 1, 0, 0x20];
        byte[] packet = Ipv6(IpProtocol.HopByHop, [.. hbh, .. UdpDatagram(Payload(16, 20), v6: true)]);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(Ipv6Header.PayloadLengthOffset), 0);
        return packet;
    }

    private static byte[] LongChain(int headers)
    {
        var bytes = new byte[(headers * 8) + 8];
        for (int i = 0; i < headers; i++)
        {
            Ipv6OptionsHeader.Emit(bytes.AsSpan(i * 8), i == headers - 1 ? IpProtocol.Udp : IpProtocol.Ipv6DestinationOptions, []);
        }
        new UdpRepr { SourcePort = 1, DestinationPort = 2, PayloadLength = 0 }.Emit(bytes.AsSpan(headers * 8));
        return Ipv6(IpProtocol.Ipv6DestinationOptions, bytes);
    }

    private static byte[] Corrupt(byte[] packet, int offset, byte mask)
    {
        byte[] copy = (byte[])packet.Clone();
        copy[offset] ^= mask;
        return copy;
    }
}
