using System.Buffers.Binary;
using System.Net;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>A segment read back from the stack: the parsed header and the payload.</summary>
internal sealed record Segment(TcpRepr Tcp, byte[] Payload)
{
    public SequenceNumber Seq => Tcp.SequenceNumber;

    public SequenceNumber Ack => Tcp.AcknowledgmentNumber;

    public TcpFlags Flags => Tcp.Flags;
}

/// <summary>
/// Exact-packet harness in the style of gVisor's TCP tests: our stack (10.0.0.2) over a ChannelEndpoint on a
/// ManualClock; the test plays the peer (10.0.0.1), injecting segments and reading what comes back.
/// </summary>
internal sealed class TcpTestHarness : IDisposable
{
    public const ushort PeerPort = 40000;
    public static readonly IPAddress LocalIp = IPAddress.Parse("10.0.0.2");
    public static readonly IPAddress PeerIp = IPAddress.Parse("10.0.0.1");

    public TcpTestHarness(TcpProtocolOptions? options = null, int mtu = 1500, GsoSupport gso = GsoSupport.None, int linkQueue = 1024, bool txChecksumOffload = false)
    {
        Pool = new LeakCheckedPool();
        Link = new ChannelEndpoint(new ChannelEndpointOptions { Gso = gso, EnableGro = false, Mtu = mtu, OutboundQueueCapacity = linkQueue, TxChecksumOffload = txChecksumOffload });
        Stack = new NetworkStack(new NetworkStackOptions { TimeProvider = Clock, Pool = Pool.Pool, RandomSeed = 99, Tcp = options ?? new TcpProtocolOptions { IsnSecret = [1, 2, 3], RandomSeed = 7 } });
        Nic nic = Stack.CreateNic(Link);
        nic.AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        Tcp = Stack.Tcp;
    }

    public ManualClock Clock { get; } = new();

    public LeakCheckedPool Pool { get; }

    public ChannelEndpoint Link { get; }

    public NetworkStack Stack { get; }

    public TcpProtocol Tcp { get; }

    /// <summary>Peer's segment template (ports filled in, ACK flag, a 64 KiB-ish window).</summary>
    public static TcpRepr Peer(uint seq, uint ack, TcpFlags flags, ushort localPort = 80, ushort window = 65535) => new()
    {
        SourcePort = PeerPort,
        DestinationPort = localPort,
        SequenceNumber = seq,
        AcknowledgmentNumber = ack,
        Flags = flags,
        WindowSize = window,
    };

    public void Inject(TcpRepr tcp, ReadOnlySpan<byte> payload = default) =>
        InjectRaw(Packets.Ipv4Tcp(tcp, payload, src: Packets.V4A, dst: Packets.V4B));

    public void InjectRaw(byte[] ipPacket)
    {
        PacketBuffer packet = Pool.Pool.RentCopy(ipPacket);
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        Link.InjectInbound(packet);
    }

    /// <summary>The next segment the stack sent, or null.</summary>
    public Segment? TryRead()
    {
        PacketBuffer? packet = Link.Read();
        if (packet is null)
        {
            return null;
        }
        byte[] bytes = packet.ToArray();
        packet.Release();
        Assert.Equal(4, bytes[0] >> 4);
        int ihl = (bytes[0] & 0xF) * 4;
        Assert.Equal((byte)IpProtocol.Tcp, bytes[9]);
        Assert.Equal(Packets.V4B, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(12)));
        Assert.Equal(Packets.V4A, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)));
        ReadOnlySpan<byte> segment = bytes.AsSpan(ihl);
        uint pseudo = NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(bytes.AsSpan(12, 4), bytes.AsSpan(16, 4), (byte)IpProtocol.Tcp, segment.Length);
        Assert.True(TcpHeader.VerifyChecksum(segment, pseudo), "bad TCP checksum");
        Assert.True(TcpHeader.TryCreate(segment, out TcpHeader header, out _));
        Assert.True(TcpRepr.TryParse(header, out TcpRepr repr, out _));
        return new Segment(repr, header.Payload.ToArray());
    }

    public Segment Read()
    {
        Segment? s = TryRead();
        Assert.True(s is not null, "expected a segment, none was sent");
        return s!;
    }

    public void ExpectNone()
    {
        Segment? s = TryRead();
        Assert.True(s is null, $"expected no segment, got {s?.Tcp}");
    }

    public void Advance(TimeSpan by) => Clock.Advance(by);

    /// <summary>Listens on port 80 and completes a passive handshake; returns the accepted connection and our ISS.</summary>
    public (TcpConnection Connection, uint Iss, TcpConnectionListener Listener) AcceptOne(uint peerIss = 1000, bool options = true, TcpConnectionOptions? connectionOptions = null, ushort window = 65535)
    {
        TcpConnectionListener listener = Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 8, connectionOptions);
        TcpRepr syn = Peer(peerIss, 0, TcpFlags.Syn, window: window);
        if (options)
        {
            syn.MaxSegmentSize = 1460;
            syn.WindowScale = 2;
            syn.SackPermitted = true;
            syn.Timestamps = new TcpTimestamps(100, 0);
        }
        Inject(syn);
        Segment synAck = Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        uint iss = synAck.Tcp.SequenceNumber;
        TcpRepr ack = Peer(peerIss + 1, iss + 1, TcpFlags.Ack, window: window);
        if (options)
        {
            ack.Timestamps = new TcpTimestamps(101, synAck.Tcp.Timestamps!.Value.Value);
        }
        Inject(ack);
        Assert.True(listener.TryAccept(out TcpConnection? connection));
        return (connection!, iss, listener);
    }

    public void Dispose()
    {
        Stack.Dispose();
        Link.Close();
        Pool.Dispose();
    }
}
