// Harness for exact-packet tests of the network layer: one NetworkStack (ManualClock, leak-checked pool) with
// one NIC (10.0.0.1/24, fd00::1/64) over a ChannelEndpoint or, for rules the channel would check first, over a
// bare link without RX checksum offload. Packets are injected from the peer 10.0.0.2 / fd00::2 and what the stack
// sends is read back as bytes.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Simulation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

/// <summary>A link endpoint without offloads: the stack must validate everything itself.</summary>
internal sealed class RawTestLink : ILinkEndpoint
{
    private readonly Queue<PacketBuffer> _sent = new();
    private INetworkDispatcher? _dispatcher;

    public int Mtu { get; set; } = 1500;

    public int MaxHeaderLength => 0;

    public LinkCapabilities Capabilities => LinkCapabilities.None;

    public int GsoMaxSize => 0;

    public GsoSupport SupportedGso => GsoSupport.None;

    public bool IsAttached => _dispatcher is not null;

    public void Attach(INetworkDispatcher? dispatcher) => _dispatcher = dispatcher;

    /// <summary>Delivers a packet as a device would (the dispatcher borrows it) and releases it.</summary>
    public void Inject(PacketBuffer packet)
    {
        try
        {
            _dispatcher?.DeliverNetworkPacket(NetworkProtocol.None, packet);
        }
        finally
        {
            packet.Release();
        }
    }

    public int WritePackets(ReadOnlySpan<PacketBuffer> packets)
    {
        foreach (PacketBuffer p in packets)
        {
            _sent.Enqueue(p);
        }
        return packets.Length;
    }

    public PacketBuffer? Read() => _sent.TryDequeue(out var p) ? p : null;

    public void Close()
    {
        while (_sent.TryDequeue(out var p))
        {
            p.Release();
        }
    }
}

/// <summary>One stack, one NIC, a manual clock and a leak-checked pool.</summary>
internal sealed class StackHarness : IDisposable
{
    public static readonly NetAddress Local4 = NetAddress.Parse("10.0.0.1");
    public static readonly NetAddress Peer4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress Local6 = NetAddress.Parse("fd00::1");
    public static readonly NetAddress Peer6 = NetAddress.Parse("fd00::2");

    private readonly LeakCheckedPool _pool;

    public StackHarness(bool rawLink = false, int mtu = 1500, ReassemblyOptions? reassembly = null, int icmpBurst = 50, int icmpRate = 100,
        int udpQueue = 1024, int udpBytes = 4 << 20, bool debugPool = true, int ephemeralMin = 49152, int ephemeralMax = 65535,
        Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null, TimeSpan? icmpRateLimit = null, long maxPoolBytes = 1L << 30)
    {
        _pool = new LeakCheckedPool(new PacketBufferPoolOptions { DebugTracking = debugPool, MaxLiveBytes = maxPoolBytes });
        Clock = new ManualClock();
        Stack = new NetworkStack(new NetworkStackOptions
        {
            TimeProvider = Clock,
            Pool = _pool.Pool,
            Reassembly = reassembly ?? new ReassemblyOptions(),
            IcmpMsgsBurst = icmpBurst,
            IcmpMsgsPerSecond = icmpRate,
            IcmpRateLimit = icmpRateLimit ?? TimeSpan.FromSeconds(1),
            UdpReceiveQueueCapacity = udpQueue,
            UdpReceiveBufferBytes = udpBytes,
            EphemeralPortMin = ephemeralMin,
            EphemeralPortMax = ephemeralMax,
            LoggerFactory = loggerFactory,
        });
        if (rawLink)
        {
            Raw = new RawTestLink { Mtu = mtu };
            Link = Raw;
        }
        else
        {
            Channel = new ChannelEndpoint(new ChannelEndpointOptions { Mtu = mtu, Gso = GsoSupport.None });
            Link = Channel;
        }
        Nic = Stack.CreateNic(Link);
        Nic.AddAddress(NetPrefix.Parse("10.0.0.1/24"));
        Nic.AddAddress(NetPrefix.Parse("fd00::1/64"));
    }

    public ManualClock Clock { get; }

    public NetworkStack Stack { get; }

    public ILinkEndpoint Link { get; }

    public ChannelEndpoint? Channel { get; }

    public RawTestLink? Raw { get; }

    public Nic Nic { get; }

    public PacketBufferPool Pool => _pool.Pool;

    /// <summary>Injects a copy of <paramref name="bytes"/> as received from the wire.</summary>
    public void Inject(byte[] bytes)
    {
        PacketBuffer p = Pool.RentCopy(bytes);
        if (Channel is not null)
        {
            Channel.InjectInbound(p);
        }
        else
        {
            Raw!.Inject(p);
        }
    }

    /// <summary>Everything the stack has sent since the last call, as bytes (the buffers are released).</summary>
    public List<byte[]> Sent()
    {
        var list = new List<byte[]>();
        while ((Channel is not null ? Channel.Read() : Raw!.Read()) is PacketBuffer p)
        {
            list.Add(p.ToArray());
            p.Release();
        }
        return list;
    }

    /// <summary>Exactly one packet was sent; returns it.</summary>
    public byte[] SentOne()
    {
        List<byte[]> sent = Sent();
        Assert.Single(sent);
        return sent[0];
    }

    public void AssertNothingSent() => Assert.Empty(Sent());

    public void Dispose()
    {
        Stack.Dispose();
        Link.Close();
        _pool.AssertNoLeaks();
    }
}

/// <summary>Builders and checkers of exact packets between the peer and the stack.</summary>
internal static class Pkt
{
    public static uint V4(NetAddress a) => a.V4;

    public static byte[] Ip4(IpProtocol protocol, ReadOnlySpan<byte> payload, NetAddress? src = null, NetAddress? dst = null, byte ttl = 64, byte tos = 0,
        ushort id = 0x4242, bool df = false, bool mf = false, int fragmentOffset = 0, byte[]? options = null)
    {
        var ip = new Ipv4Repr
        {
            Source = (src ?? StackHarness.Peer4).V4,
            Destination = (dst ?? StackHarness.Local4).V4,
            Protocol = protocol,
            TimeToLive = ttl,
            Dscp = (byte)(tos >> 2),
            Ecn = (byte)(tos & 3),
            Identification = id,
            DontFragment = df,
            MoreFragments = mf,
            FragmentOffset = fragmentOffset,
            PayloadLength = payload.Length,
        };
        if (options is not null)
        {
            ip.SetOptions(options);
        }
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        payload.CopyTo(packet.AsSpan(ip.HeaderLength));
        return packet;
    }

    public static byte[] Ip6(IpProtocol next, ReadOnlySpan<byte> payload, NetAddress? src = null, NetAddress? dst = null, byte hopLimit = 64, byte trafficClass = 0)
    {
        var ip = new Ipv6Repr
        {
            Source = (src ?? StackHarness.Peer6).Value,
            Destination = (dst ?? StackHarness.Local6).Value,
            NextHeader = next,
            HopLimit = hopLimit,
            TrafficClass = trafficClass,
            PayloadLength = payload.Length,
        };
        var packet = new byte[Ipv6Header.Length + payload.Length];
        ip.Emit(packet);
        payload.CopyTo(packet.AsSpan(Ipv6Header.Length));
        return packet;
    }

    /// <summary>A UDP datagram (header + payload) with the checksum over the pseudo-header of src → dst.</summary>
    public static byte[] UdpDatagram(ReadOnlySpan<byte> payload, ushort sport, ushort dport, NetAddress src, NetAddress dst, bool checksum = true)
    {
        var d = new byte[UdpHeader.HeaderLength + payload.Length];
        new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length }.Emit(d);
        payload.CopyTo(d.AsSpan(UdpHeader.HeaderLength));
        if (checksum)
        {
            UdpHeader.WriteChecksum(d, Pseudo(src, dst, IpProtocol.Udp, d.Length));
        }
        else
        {
            UdpHeader.SetChecksum(d, 0);
        }
        return d;
    }

    public static byte[] Udp4(ReadOnlySpan<byte> payload, ushort sport = 5000, ushort dport = 7000, NetAddress? src = null, NetAddress? dst = null,
        bool checksum = true, byte tos = 0, ushort id = 0x4242)
    {
        NetAddress s = src ?? StackHarness.Peer4, d = dst ?? StackHarness.Local4;
        return Ip4(IpProtocol.Udp, UdpDatagram(payload, sport, dport, s, d, checksum), s, d, tos: tos, id: id);
    }

    public static byte[] Udp6(ReadOnlySpan<byte> payload, ushort sport = 5000, ushort dport = 7000, NetAddress? src = null, NetAddress? dst = null, bool checksum = true)
    {
        NetAddress s = src ?? StackHarness.Peer6, d = dst ?? StackHarness.Local6;
        return Ip6(IpProtocol.Udp, UdpDatagram(payload, sport, dport, s, d, checksum), s, d);
    }

    public static uint Pseudo(NetAddress src, NetAddress dst, IpProtocol protocol, int length)
    {
        Span<byte> s = stackalloc byte[16];
        Span<byte> d = stackalloc byte[16];
        src.WriteBytes(s);
        dst.WriteBytes(d);
        return src.IsV4
            ? InternetChecksum.PseudoHeaderSumV4(s[..4], d[..4], (byte)protocol, length)
            : InternetChecksum.PseudoHeaderSumV6(s, d, (byte)protocol, length);
    }

    /// <summary>An ICMPv4 message with a valid checksum.</summary>
    public static byte[] Icmp4(byte type, byte code, uint rest, ReadOnlySpan<byte> body)
    {
        var m = new byte[8 + body.Length];
        m[0] = type;
        m[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4), rest);
        body.CopyTo(m.AsSpan(8));
        IcmpV4Header.WriteChecksum(m);
        return m;
    }

    /// <summary>An ICMPv6 message with a valid checksum for src → dst.</summary>
    public static byte[] Icmp6(byte type, byte code, uint rest, ReadOnlySpan<byte> body, NetAddress? src = null, NetAddress? dst = null)
    {
        var m = new byte[8 + body.Length];
        m[0] = type;
        m[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4), rest);
        body.CopyTo(m.AsSpan(8));
        IcmpV6Header.WriteChecksum(m, Pseudo(src ?? StackHarness.Peer6, dst ?? StackHarness.Local6, IpProtocol.IcmpV6, m.Length));
        return m;
    }

    public static byte[] Echo4Request(ushort id, ushort seq, ReadOnlySpan<byte> data, byte tos = 0) =>
        Ip4(IpProtocol.Icmp, Icmp4(8, 0, ((uint)id << 16) | seq, data), tos: tos);

    public static byte[] Echo6Request(ushort id, ushort seq, ReadOnlySpan<byte> data, byte trafficClass = 0) =>
        Ip6(IpProtocol.IcmpV6, Icmp6(128, 0, ((uint)id << 16) | seq, data), trafficClass: trafficClass);

    /// <summary>Checks the IPv4 header (version, IHL 5, total length = packet, checksum) and returns a copy of its fields.</summary>
    public static Ipv4Repr CheckIpv4(byte[] packet)
    {
        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header h, out _), "IPv4 header parses");
        Assert.Equal(4, h.Version);
        Assert.Equal(packet.Length, h.TotalLength);
        Assert.True(h.VerifyChecksum(), "IPv4 header checksum valid");
        Ipv4Repr.TryParse(h, out Ipv4Repr repr, out _);
        return repr;
    }

    public static Ipv6Repr CheckIpv6(byte[] packet)
    {
        Assert.True(Ipv6Header.TryCreate(packet, out Ipv6Header h, out _), "IPv6 header parses");
        Assert.Equal(packet.Length, Ipv6Header.Length + h.PayloadLength);
        Ipv6Repr.TryParse(h, out Ipv6Repr repr, out _);
        return repr;
    }

    /// <summary>The ICMPv4 message of a packet sent to the peer, checksum verified.</summary>
    public static byte[] CheckIcmp4(byte[] packet)
    {
        Ipv4Repr ip = CheckIpv4(packet);
        Assert.Equal(IpProtocol.Icmp, ip.Protocol);
        byte[] message = packet[ip.HeaderLength..];
        Assert.True(IcmpV4Header.VerifyChecksum(message), "ICMPv4 checksum valid");
        return message;
    }

    /// <summary>The ICMPv6 message of a packet (no extension headers), checksum verified over the pseudo-header.</summary>
    public static byte[] CheckIcmp6(byte[] packet)
    {
        Ipv6Repr ip = CheckIpv6(packet);
        Assert.Equal(IpProtocol.IcmpV6, ip.NextHeader);
        byte[] message = packet[Ipv6Header.Length..];
        uint pseudo = Pseudo(NetAddress.FromV6(ip.Source), NetAddress.FromV6(ip.Destination), IpProtocol.IcmpV6, message.Length);
        Assert.True(IcmpV6Header.VerifyChecksum(message, pseudo), "ICMPv6 checksum valid");
        return message;
    }

    /// <summary>Checks a UDP datagram inside a packet (checksum over the pseudo-header) and returns it.</summary>
    public static byte[] CheckUdp(byte[] packet)
    {
        bool v4 = packet[0] >> 4 == 4;
        int offset = v4 ? (packet[0] & 0xF) * 4 : Ipv6Header.Length;
        NetAddress src = v4 ? NetAddress.FromBytes(packet.AsSpan(12, 4)) : NetAddress.FromBytes(packet.AsSpan(8, 16));
        NetAddress dst = v4 ? NetAddress.FromBytes(packet.AsSpan(16, 4)) : NetAddress.FromBytes(packet.AsSpan(24, 16));
        byte[] d = packet[offset..];
        Assert.Equal(d.Length, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(4)));
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(6)));
        Assert.Equal(0, InternetChecksum.Compute(d, Pseudo(src, dst, IpProtocol.Udp, d.Length)));
        return d;
    }

    /// <summary>A destination options (or hop-by-hop) header holding <paramref name="options"/>, padded with PadN to 8 bytes.</summary>
    public static byte[] OptionsHeader(IpProtocol next, params byte[] options)
    {
        int length = (2 + options.Length + 7) & ~7;
        var h = new byte[length];
        h[0] = (byte)next;
        h[1] = (byte)((length / 8) - 1);
        options.CopyTo(h, 2);
        int pad = length - 2 - options.Length;
        if (pad == 1)
        {
            h[^1] = 0; // Pad1
        }
        else if (pad >= 2)
        {
            h[2 + options.Length] = 1; // PadN
            h[3 + options.Length] = (byte)(pad - 2);
        }
        return h;
    }

    /// <summary>An IPv6 fragment header.</summary>
    public static byte[] FragmentHeader(IpProtocol next, int offset, bool more, uint id)
    {
        var h = new byte[8];
        new Ipv6FragmentRepr { NextHeader = next, FragmentOffset = offset, MoreFragments = more, Identification = id }.Emit(h);
        return h;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] Data(int length, int seed = 7) => Packets.Payload(length, seed);
}
