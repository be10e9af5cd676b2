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
    private static byte[] FragmentationNeeded(byte[] quoted, ushort mtu)
    {
        int quoteLength = Math.Min(quoted.Length, 28);
        var icmp = new byte[8 + quoteLength];
        IcmpV4Repr.FragmentationNeeded(mtu).Emit(icmp);
        quoted.AsSpan(0, quoteLength).CopyTo(icmp.AsSpan(8));
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
