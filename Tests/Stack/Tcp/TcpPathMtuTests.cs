using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Path MTU discovery: RFC 1191 (IPv4), RFC 8201 (IPv6), and the local Packet Too Big.</summary>
public class TcpPathMtuTests
{
    /// <summary>ICMP Fragmentation Needed from a router, quoting <paramref name="quoted"/> (IP header + 8 bytes).</summary>
    private static byte[] FragmentationNeeded(byte[] quoted, ushort mtu) =>
        IcmpFromPeer(IcmpV4Repr.FragmentationNeeded(mtu), quoted.AsSpan(0, Math.Min(quoted.Length, 28)));

    /// <summary>An ICMP error from 10.0.0.1 quoting <paramref name="quoted"/>.</summary>
    private static byte[] IcmpFromPeer(IcmpV4Repr message, ReadOnlySpan<byte> quoted)
    {
        var icmp = new byte[8 + quoted.Length];
        message.Emit(icmp);
        quoted.CopyTo(icmp.AsSpan(8));
        IcmpV4Header.WriteChecksum(icmp);
        var ip = new Ipv4Repr { Source = Packets.V4A, Destination = Packets.V4B, Protocol = IpProtocol.Icmp, TimeToLive = 64, PayloadLength = icmp.Length };
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        icmp.CopyTo(packet.AsSpan(ip.HeaderLength));
        return packet;
    }

    [Fact]
    public void Rfc1191_FragmentationNeeded_ShrinksTheSegmentSize_AndResendsAtOnce()
    {
        using var h = new TcpTestHarness();
        var (connection, iss, _) = h.AcceptOne();
        Assert.Equal(6000, connection.TryWrite(new byte[6000]));
        Segment first = h.Read();
        Assert.Equal(1448, first.Payload.Length); // 1500 − 20 − 20 − 12 (timestamps)
        while (h.TryRead() is not null)
        {
        }

        // The router says 1000: quote our first segment's IP + TCP header start.
        var quoted = new byte[28];
        new Ipv4Repr { Source = Packets.V4B, Destination = Packets.V4A, Protocol = IpProtocol.Tcp, TimeToLive = 64, DontFragment = true, PayloadLength = 1480 }.Emit(quoted);
        BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(20), 80);
        BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(22), TcpTestHarness.PeerPort);
        BinaryPrimitives.WriteUInt32BigEndian(quoted.AsSpan(24), iss + 1);
        h.InjectRaw(FragmentationNeeded(quoted, 1000));

        Segment resent = h.Read();
        Assert.Equal(iss + 1, resent.Seq.Value); // RFC 8201 §5.4: the lost data goes again promptly
        Assert.Equal(1000 - 20 - 20 - 12, resent.Payload.Length);
        Assert.Equal(1000 - 20 - 20 - 12, connection.GetStatistics().MaxSegmentSize);
        Assert.Equal(1, h.Tcp.Events[TcpEvent.PathMtuDecreased]);
        Assert.Equal(1000, h.Stack.PathMtu.Get(NetAddress.FromV4(Packets.V4A), 1500));

        // A later "too big" above the current MTU never raises it (RFC 1191 §6.3).
        h.InjectRaw(FragmentationNeeded(quoted, 1400));
        Assert.Equal(1000 - 20 - 20 - 12, connection.GetStatistics().MaxSegmentSize);

        connection.Abort();
        while (h.TryRead() is not null)
        {
        }
    }

    /// <summary>The IP header and first 8 TCP bytes of a segment we would send to the peer: ports and <paramref name="seq"/>.</summary>
    private static byte[] QuoteOurSegment(uint seq, ushort localPort = 80, ushort remotePort = TcpTestHarness.PeerPort, int quoteLength = 28)
    {
        var quoted = new byte[28];
        new Ipv4Repr { Source = Packets.V4B, Destination = Packets.V4A, Protocol = IpProtocol.Tcp, TimeToLive = 64, DontFragment = true, PayloadLength = 1480 }.Emit(quoted);
        BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(20), localPort);
        BinaryPrimitives.WriteUInt16BigEndian(quoted.AsSpan(22), remotePort);
        BinaryPrimitives.WriteUInt32BigEndian(quoted.AsSpan(24), seq);
        return quoted[..quoteLength];
    }

    [Fact]
    public void Rfc5927_4_1_FragmentationNeeded_QuotingASequenceNumberOutsideTheFlight_IsIgnored()
    {
        // The blind attack of issue 14 item 6: a forged "fragmentation needed" with the right 4-tuple but a guessed
        // sequence number used to shrink the connection and the path for ten minutes.
        using var h = new TcpTestHarness();
        var (connection, iss, _) = h.AcceptOne();
        Assert.Equal(2896, connection.TryWrite(new byte[2896])); // two full segments in flight
        while (h.TryRead() is not null)
        {
        }
        h.InjectRaw(FragmentationNeeded(QuoteOurSegment(iss + 1 + 100_000), 600));  // beyond SND.NXT
        h.InjectRaw(FragmentationNeeded(QuoteOurSegment(iss - 5), 600));            // before SND.UNA
        h.InjectRaw(FragmentationNeeded(QuoteOurSegment(iss + 1, quoteLength: 24), 600)); // no sequence number quoted
        h.ExpectNone();
        Assert.Equal(1448, connection.GetStatistics().MaxSegmentSize);
        Assert.Equal(1500, h.Stack.PathMtu.Get(NetAddress.FromV4(Packets.V4A), 1500));
        Assert.Equal(3, h.Tcp.Drops[TcpDropReason.IcmpOutOfWindow]);
        Assert.Equal(0, h.Tcp.Events[TcpEvent.PathMtuDecreased]);

        // The same message quoting the last byte in flight (SND.NXT itself is the bound, as Linux) is taken.
        h.InjectRaw(FragmentationNeeded(QuoteOurSegment(iss + 1 + 2896), 600));
        Assert.Equal(600 - 20 - 20 - 12, connection.GetStatistics().MaxSegmentSize);
        Assert.Equal(600, h.Stack.PathMtu.Get(NetAddress.FromV4(Packets.V4A), 1500));
        connection.Abort();
        while (h.TryRead() is not null)
        {
        }
    }

    [Fact]
    public void FragmentationNeeded_QuotingNoConnection_LeavesThePathMtuCacheAlone()
    {
        using var h = new TcpTestHarness();
        h.InjectRaw(FragmentationNeeded(QuoteOurSegment(12345, localPort: 5555), 600));
        Assert.Equal(1500, h.Stack.PathMtu.Get(NetAddress.FromV4(Packets.V4A), 1500));
        Assert.Equal(0, h.Stack.PathMtu.Count);
        Assert.Equal(1, h.Tcp.Drops[TcpDropReason.IcmpNoConnection]);
    }

    [Fact]
    public void Rfc5927_4_1_PortUnreachable_InSynSent_NeedsTheQuotedSequenceNumber()
    {
        // ISS 0: a quote cut after the ports reads as sequence 0, which used to match and refuse the connect.
        using var h = new TcpTestHarness();
        h.Tcp.IsnOverride = () => 0;
        TcpConnection c = h.Tcp.Connect(new System.Net.IPEndPoint(TcpTestHarness.PeerIp, 8080));
        Segment syn = h.Read();
        byte[] shortQuote = QuoteOurSegment(0, syn.Tcp.SourcePort, 8080, quoteLength: 24);
        h.InjectRaw(PortUnreachable(shortQuote));
        Assert.Equal(TcpState.SynSent, c.State);
        Assert.Equal(1, h.Tcp.Drops[TcpDropReason.IcmpOutOfWindow]);
        h.InjectRaw(PortUnreachable(QuoteOurSegment(77, syn.Tcp.SourcePort, 8080))); // not our ISS
        Assert.Equal(TcpState.SynSent, c.State);
        h.InjectRaw(PortUnreachable(QuoteOurSegment(0, syn.Tcp.SourcePort, 8080)));
        Assert.Equal(TcpState.Closed, c.State);
    }

    private static byte[] PortUnreachable(byte[] quoted) =>
        IcmpFromPeer(IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.PortUnreachable), quoted);

    private sealed class RecordingTransport : ITransportProtocol
    {
        public List<IcmpError> Errors { get; } = [];

        public void Deliver(in IpPacketInfo info, PacketBuffer packet)
        {
        }

        public void DeliverIcmpError(in IcmpError error) => Errors.Add(error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OwnPacketOverThePathMtu_WithDontFragment_GeneratesALocalPacketTooBig(bool v6)
    {
        using var pool = new LeakCheckedPool();
        var link = new ChannelEndpoint();
        using var stack = new NetworkStack(new NetworkStackOptions { Pool = pool.Pool, TimeProvider = new NetStack.Simulation.ManualClock() });
        Nic nic = stack.CreateNic(link);
        nic.AddAddress(NetPrefix.Parse(v6 ? "fd00::2/64" : "10.0.0.2/24"));
        var transport = new RecordingTransport();
        const IpProtocol Experimental = (IpProtocol)253; // RFC 3692 experimentation
        stack.RegisterTransport(Experimental, transport);
        NetAddress peer = NetAddress.Parse(v6 ? "fd00::1" : "10.0.0.1");
        Assert.Equal(SendResult.Sent, stack.TryResolveRoute(peer, default, out RouteInfo route));

        PacketBuffer packet = pool.Pool.Rent(2000, 64);
        Span<byte> bytes = packet.Append(2000);
        BinaryPrimitives.WriteUInt16BigEndian(bytes, 1234);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], 5678);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[4..], 0xDEADBEEF);
        Assert.Equal(SendResult.MessageTooBig, stack.Send(route, Experimental, packet, dontFragment: true));

        IcmpError error = Assert.Single(transport.Errors);
        Assert.Equal(IcmpErrorKind.PacketTooBig, error.Kind);
        Assert.Equal(1500, error.Mtu);
        Assert.Equal((ushort)1234, error.LocalPort);
        Assert.Equal((ushort)5678, error.RemotePort);
        Assert.Equal(0xDEADBEEFu, error.QuotedSequence);
        Assert.Equal(peer, error.RemoteAddress);
        Assert.Equal(0, link.NumQueued);
    }
}
