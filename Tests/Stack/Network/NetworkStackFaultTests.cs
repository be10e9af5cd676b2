// The packet path's exception boundaries (docs/ARCHITECTURE.md §6): a transport that throws on a packet costs that
// packet and leaves the TUN reader running; a TCP timer or the housekeeping timer whose work throws (here through a
// link endpoint that throws) costs that run — the connection is reset — and never reaches the clock's thread.
using System.Buffers.Binary;
using System.Net;
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Link.Channels;
using NetStack.Link.Tun;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Tests.LinkEndpoint.Tun;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

public class NetworkStackFaultTests
{
    private const IpProtocol Experimental = (IpProtocol)253; // RFC 3692 experimentation

    /// <summary>A transport that throws on every packet, as a bug in protocol work would.</summary>
    private sealed class ThrowingTransport : ITransportProtocol
    {
        public int Calls;

        public void Deliver(in IpPacketInfo info, PacketBuffer packet)
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("a bug in protocol work");
        }

        public void DeliverIcmpError(in IcmpError error)
        {
        }
    }

    /// <summary>A link endpoint over a channel endpoint whose writes throw while <see cref="Throw"/> is set (taking the packets first).</summary>
    private sealed class ThrowingLink(ChannelEndpoint inner) : ILinkEndpoint
    {
        public volatile bool Throw;
        public int Thrown;

        public int Mtu => inner.Mtu;

        public int MaxHeaderLength => inner.MaxHeaderLength;

        public LinkCapabilities Capabilities => inner.Capabilities;

        public int GsoMaxSize => inner.GsoMaxSize;

        public GsoSupport SupportedGso => inner.SupportedGso;

        public bool IsAttached => inner.IsAttached;

        public void Attach(INetworkDispatcher? dispatcher) => inner.Attach(dispatcher);

        public int WritePackets(ReadOnlySpan<PacketBuffer> packets)
        {
            if (!Throw)
            {
                return inner.WritePackets(packets);
            }
            foreach (PacketBuffer packet in packets)
            {
                packet.Release();
            }
            Interlocked.Increment(ref Thrown);
            throw new IOException("a link endpoint that throws");
        }

        public void Close() => inner.Close();
    }

    private static byte[] ExperimentalPacket()
    {
        var ip = new Ipv4Repr { Source = Packets.V4A, Destination = Packets.V4B, Protocol = Experimental, TimeToLive = 64, PayloadLength = 16 };
        byte[] packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        return packet;
    }

    private static TcpRepr Syn(ushort sourcePort, uint seq = 1000) => Packets.Tcp(seq: seq, ack: 0, flags: TcpFlags.Syn, sport: sourcePort, dport: 80);

    private static TcpRepr ParseTcp(byte[] ipPacket)
    {
        Assert.Equal(4, ipPacket[0] >> 4);
        Assert.Equal((byte)IpProtocol.Tcp, ipPacket[9]);
        Assert.True(TcpHeader.TryCreate(ipPacket.AsSpan((ipPacket[0] & 0xF) * 4), out TcpHeader header, out _));
        Assert.True(TcpRepr.TryParse(header, out TcpRepr tcp, out _));
        return tcp;
    }

    [Fact]
    public void ThrowingTransport_OnTheTunReader_CostsOnePacket_TheReaderAndAnotherFlowGoOn()
    {
        using var pool = new LeakCheckedPool();
        using var tun = new FakeTun(vnetHeader: false);
        using var stack = new NetworkStack(new NetworkStackOptions { Pool = pool.Pool, RandomSeed = 1 });
        var transport = new ThrowingTransport();
        stack.RegisterTransport(Experimental, transport);
        using (var endpoint = new TunEndpoint(tun.Device, new TunEndpointOptions { Pool = pool.Pool, ProbeGroOnWrite = false }))
        {
            stack.CreateNic(endpoint.Channel).AddAddress(NetPrefix.Parse("10.0.0.2/24"));
            using TcpConnectionListener listener = stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
            endpoint.Start();

            tun.Send(ExperimentalPacket());
            tun.Send(Packets.Ipv4Tcp(Syn(40001), []));
            byte[]? reply = tun.Receive(5000);

            Assert.True(reply is not null, "no SYN-ACK: the reader stopped at the packet that threw");
            TcpRepr synAck = ParseTcp(reply!);
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
            Assert.Equal(40001, synAck.DestinationPort);
            Assert.Equal(1, transport.Calls);
            Assert.Equal(1, stack.Drops[IpDropReason.ProcessingFault]);
            Assert.Equal(1, stack.Faults[StackFault.InboundPacket]);
            Assert.True(endpoint.IsReaderRunning);
        }
        stack.Dispose();
        pool.AssertNoLeaks();
    }

    [Fact]
    public void ThrowingTransport_OnInjectedPackets_EveryOneCounted_NothingEscapes()
    {
        using var pool = new LeakCheckedPool();
        var link = new ChannelEndpoint(new ChannelEndpointOptions { EnableGro = false });
        using var stack = new NetworkStack(new NetworkStackOptions { Pool = pool.Pool, TimeProvider = new ManualClock() });
        stack.CreateNic(link).AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        stack.RegisterTransport(Experimental, new ThrowingTransport());
        for (int i = 0; i < 3; i++)
        {
            link.InjectInbound(pool.Pool.RentCopy(ExperimentalPacket()));
        }
        Assert.Equal(3, stack.Drops[IpDropReason.ProcessingFault]);
        Assert.Equal(3, stack.Faults[StackFault.InboundPacket]);
        Assert.Equal(0, link.RxDrops[RxDropReason.ProcessingFault]); // the stack's boundary caught them first
        link.Close();
    }

    /// <summary>A dispatcher that throws: the channel endpoint's own boundary (GRO flush delivery) catches it.</summary>
    private sealed class ThrowingDispatcher : INetworkDispatcher
    {
        public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet) => throw new InvalidOperationException("a dispatcher bug");
    }

    [Fact]
    public void ThrowingDispatcher_AtGroFlush_CostsThePacket_TheEndpointGoesOn()
    {
        using var pool = new LeakCheckedPool();
        var link = new ChannelEndpoint();
        link.Attach(new ThrowingDispatcher());
        for (int i = 0; i < 2; i++)
        {
            link.EnqueueGro(pool.Pool.RentCopy(Packets.Ipv4Udp(Packets.Payload(10 + i))));
            link.FlushGro();
        }
        Assert.Equal(2, link.RxDrops[RxDropReason.ProcessingFault]);
        link.Close();
        pool.AssertNoLeaks();
    }

    /// <summary>A stack on a <see cref="ThrowingLink"/> with a manual clock; the peer is 10.0.0.1, we are 10.0.0.2.</summary>
    private sealed class Rig : IDisposable
    {
        public Rig()
        {
            Channel = new ChannelEndpoint(new ChannelEndpointOptions { EnableGro = false, Gso = GsoSupport.None });
            Link = new ThrowingLink(Channel);
            Stack = new NetworkStack(new NetworkStackOptions { TimeProvider = Clock, Pool = Pool.Pool, RandomSeed = 5 });
            Stack.CreateNic(Link).AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        }

        public LeakCheckedPool Pool { get; } = new();

        public ManualClock Clock { get; } = new();

        public ChannelEndpoint Channel { get; }

        public ThrowingLink Link { get; }

        public NetworkStack Stack { get; }

        public void Inject(byte[] packet)
        {
            PacketBuffer buffer = Pool.Pool.RentCopy(packet);
            buffer.NetworkProtocol = NetworkProtocol.IPv4;
            Channel.InjectInbound(buffer);
        }

        public byte[] Read()
        {
            PacketBuffer? packet = Channel.Read();
            Assert.True(packet is not null, "expected a packet, none was sent");
            byte[] bytes = packet!.ToArray();
            packet.Release();
            return bytes;
        }

        /// <summary>A passive open from <paramref name="port"/>: SYN, our SYN-ACK, the ACK; returns our ISS.</summary>
        public uint Handshake(ushort port)
        {
            Inject(Packets.Ipv4Tcp(Syn(port), []));
            TcpRepr synAck = ParseTcp(Read());
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
            Inject(Packets.Ipv4Tcp(Packets.Tcp(seq: 1001, ack: synAck.SequenceNumber + 1, sport: port, dport: 80), []));
            return synAck.SequenceNumber;
        }

        public void Dispose()
        {
            Stack.Dispose();
            Channel.Close();
            Pool.Dispose();
        }
    }

    [Fact]
    public void TcpTimer_WhoseWorkThrows_ResetsThatConnection_TheClockAndAnotherFlowGoOn()
    {
        using var rig = new Rig();
        using TcpConnectionListener listener = rig.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        rig.Handshake(40001);
        Assert.True(listener.TryAccept(out TcpConnection? connection));
        Assert.Equal(5, connection!.TryWrite("hello"u8));
        Assert.Equal(TcpFlags.Psh, ParseTcp(rig.Read()).Flags & TcpFlags.Psh); // sent, never acknowledged

        rig.Link.Throw = true;
        rig.Clock.Advance(TimeSpan.FromSeconds(5)); // the retransmission timer fires; its write throws

        Assert.True(rig.Link.Thrown >= 1);
        Assert.Equal(1, rig.Stack.Faults[StackFault.TcpTimer]);
        Assert.Equal(TcpState.Closed, connection.State);
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionAborted, connection.Error);

        rig.Link.Throw = false;
        rig.Handshake(40002);
        Assert.True(listener.TryAccept(out TcpConnection? other));
        Assert.Equal(TcpState.Established, other!.State);
        other.Abort();
        connection.Dispose();
        _ = rig.Channel.Drain();
    }

    [Fact]
    public void HousekeepingTimer_WhoseWorkThrows_CostsThatRun_TheTimerGoesOn()
    {
        using var rig = new Rig();
        // The first fragment of a UDP datagram whose rest never comes: reassembly times out, and the ICMP Time Exceeded
        // that housekeeping then sends (RFC 792) goes to a link that throws.
        byte[] whole = Packets.Ipv4Udp(Packets.Payload(100), dport: 9);
        byte[] fragment = whole[..(20 + 48)];
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(2), (ushort)fragment.Length);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(6), 0x2000); // MF, offset 0
        fragment[10] = fragment[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(10), NetStack.Checksums.InternetChecksum.Compute(fragment.AsSpan(0, 20)));
        rig.Inject(fragment);
        rig.Link.Throw = true;

        rig.Clock.Advance(TimeSpan.FromSeconds(61)); // past the reassembly timeout, several housekeeping ticks

        Assert.Equal(1, rig.Link.Thrown);
        Assert.Equal(1, rig.Stack.Faults[StackFault.Housekeeping]);
        rig.Link.Throw = false;
        rig.Clock.Advance(TimeSpan.FromSeconds(2)); // the timer still ticks
        Assert.Equal(1, rig.Stack.Faults[StackFault.Housekeeping]);
    }
}
