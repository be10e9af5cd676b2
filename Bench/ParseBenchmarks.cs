using BenchmarkDotNet.Attributes;
using NetStack.Checksums;
using NetStack.Wire;
using PdnPacket = PacketDotNet.Packet;
using PdnTcp = PacketDotNet.TcpPacket;

namespace NetStack.Bench;

/// <summary>
/// Header parsing: our views (and reprs, which also walk the TCP options) against PacketDotNet's
/// <c>Packet.ParsePacket</c> + <c>Extract&lt;TcpPacket&gt;</c> on the same bytes, reading the same fields.
/// </summary>
[MemoryDiagnoser]
[InProcess]
public class ParseBenchmarks
{
    private byte[] _v4 = null!;
    private byte[] _v6 = null!;

    [GlobalSetup]
    public void Setup()
    {
        var tcp = new TcpRepr
        {
            SourcePort = 40000,
            DestinationPort = 443,
            SequenceNumber = 123456789,
            AcknowledgmentNumber = 987654321,
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            WindowSize = 501,
            Timestamps = new TcpTimestamps(1, 2),
        };
        _v4 = Build(tcp, v6: false);
        _v6 = Build(tcp, v6: true);
    }

    private static byte[] Build(TcpRepr tcp, bool v6)
    {
        const int PayloadLength = 1448;
        int ipLength = v6 ? Ipv6Repr.BufferLength : Ipv4Header.MinLength;
        var packet = new byte[ipLength + tcp.BufferLength + PayloadLength];
        int l4 = tcp.BufferLength + PayloadLength;
        if (v6)
        {
            new Ipv6Repr { Source = 1, Destination = 2, NextHeader = IpProtocol.Tcp, HopLimit = 64, PayloadLength = l4 }.Emit(packet);
        }
        else
        {
            new Ipv4Repr { Source = 0x0A000001, Destination = 0x0A000002, Protocol = IpProtocol.Tcp, TimeToLive = 64, PayloadLength = l4 }.Emit(packet);
        }
        tcp.Emit(packet.AsSpan(ipLength));
        uint pseudo = v6
            ? InternetChecksum.PseudoHeaderSumV6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), 6, l4)
            : InternetChecksum.PseudoHeaderSumV4(packet.AsSpan(12, 4), packet.AsSpan(16, 4), 6, l4);
        TcpHeader.WriteChecksum(packet.AsSpan(ipLength), pseudo);
        return packet;
    }

    [Benchmark(Baseline = true, Description = "PacketDotNet ParsePacket IPv4+TCP")]
    public long PacketDotNetV4() => ParseWithPacketDotNet(_v4);

    [Benchmark(Description = "PacketDotNet ParsePacket IPv6+TCP")]
    public long PacketDotNetV6() => ParseWithPacketDotNet(_v6);

    [Benchmark(Description = "NetStack views IPv4+TCP")]
    public long ViewsV4()
    {
        if (!Ipv4Header.TryCreate(_v4, out var ip, out _) || !TcpHeader.TryCreate(ip.Payload, out var tcp, out _))
        {
            return -1;
        }
        return ip.Source + tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + (long)tcp.Flags + tcp.WindowSize + tcp.Payload.Length;
    }

    [Benchmark(Description = "NetStack views IPv6+TCP (with extension walk)")]
    public long ViewsV6()
    {
        if (!Ipv6Header.TryCreate(_v6, out var ip, out _) || !Ipv6ExtensionWalker.TryWalk(ip, out var chain, out _)
            || !TcpHeader.TryCreate(ip.Payload[chain.UpperLayerOffset..], out var tcp, out _))
        {
            return -1;
        }
        return (long)(ulong)ip.Source + tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + (long)tcp.Flags + tcp.WindowSize + tcp.Payload.Length;
    }

    [Benchmark(Description = "NetStack IpLayout IPv4+TCP (the stack's locator)")]
    public long LocateV4() => IpLayout.TryLocate(_v4, _v4.Length, out IpLayout ip, out _) ? ip.TransportOffset + ip.TransportLength + (long)ip.Protocol : -1;

    [Benchmark(Description = "NetStack IpLayout IPv6+TCP (the stack's locator)")]
    public long LocateV6() => IpLayout.TryLocate(_v6, _v6.Length, out IpLayout ip, out _) ? ip.TransportOffset + ip.TransportLength + (long)ip.Protocol : -1;

    [Benchmark(Description = "NetStack reprs IPv4+TCP (options walked)")]
    public long ReprsV4()
    {
        if (!Ipv4Header.TryCreate(_v4, out var ip, out _) || !Ipv4Repr.TryParse(ip, out var ipRepr, out _)
            || !TcpHeader.TryCreate(ip.Payload, out var tcp, out _) || !TcpRepr.TryParse(tcp, out var repr, out _))
        {
            return -1;
        }
        return ipRepr.Source + repr.SourcePort + repr.SequenceNumber + (repr.Timestamps?.Value ?? 0);
    }

    private static long ParseWithPacketDotNet(byte[] bytes)
    {
        var packet = PdnPacket.ParsePacket(PacketDotNet.LinkLayers.Raw, bytes);
        var tcp = packet.Extract<PdnTcp>();
        return tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + tcp.Flags + tcp.WindowSize + tcp.PayloadData.Length;
    }
}
