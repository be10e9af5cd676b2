// Layer: network. The stack: NICs over link endpoints, addresses, routes, IPv4/IPv6 input and output,
// fragments, ICMP, and the transport protocols registered on it. Per-packet work takes no global lock.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network.Fragmentation;
using NetStack.Tcp;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Network;

/// <summary>Counted network-layer events.</summary>
public enum IpEvent
{
    /// <summary>Packets handed to the stack by a link.</summary>
    PacketsReceived,
    /// <summary>Packets delivered to a transport or ICMP.</summary>
    PacketsDelivered,
    /// <summary>Packets handed to a link.</summary>
    PacketsSent,
    /// <summary>Fragments handed to a link.</summary>
    FragmentsSent,
    /// <summary>Datagrams reassembled from fragments.</summary>
    DatagramsReassembled,
}

/// <summary>
/// Where an exception out of the stack's own work was caught (docs/ARCHITECTURE.md §6): each costs the packet or the
/// timer run it interrupted, never the thread that ran it. Counted in <see cref="NetworkStack.Faults"/>.
/// </summary>
public enum StackFault
{
    /// <summary>Protocol work on an inbound packet threw; the packet is dropped (<see cref="IpDropReason.ProcessingFault"/>).</summary>
    InboundPacket,
    /// <summary>A TCP connection's timer threw; the connection is reset, as its state can no longer be trusted.</summary>
    TcpTimer,
    /// <summary>The stack's housekeeping timer (reassembly expiry) threw; it runs again at its next tick.</summary>
    Housekeeping,
}

/// <summary>A resolved route for sending: interface, source address and MTU.</summary>
/// <param name="Nic">Outgoing interface.</param>
/// <param name="Source">Source address to use.</param>
/// <param name="Destination">Destination address.</param>
/// <param name="Mtu">Path MTU: the route's or NIC's MTU, lowered by what ICMP taught us.</param>
internal readonly record struct RouteInfo(Nic Nic, NetAddress Source, NetAddress Destination, int Mtu)
{
    /// <summary>
    /// The IPv4 identification counter of the connection that keeps this route (<see cref="NetworkStack.ForConnection"/>),
    /// used for its atomic (DF) datagrams; null for a route resolved per packet (the stack's shared counters).
    /// </summary>
    internal Ipv4FlowIds? Ipv4Ids { get; init; }
}

/// <summary>
/// A userspace TCP/IP stack instance: create NICs over link endpoints, give them addresses, and open
/// transport endpoints. Time comes from <see cref="NetworkStackOptions.TimeProvider"/>, so a manual clock
/// drives it deterministically (ARCHITECTURE.md §5).
/// </summary>
public sealed partial class NetworkStack : IDisposable
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = StackMeters.Network;

    private readonly Lock _gate = new();
    private readonly ITransportProtocol?[] _transports = new ITransportProtocol?[256];
    private readonly FragmentReassembler _reassembler;
    private readonly Lock _reassemblyLock = new();
    private readonly ITimer _housekeeping;
    private readonly Ipv4IdGenerator _ipv4Ids;
    private readonly LimitLog _reassemblyLimited;
    private readonly LimitLog _poolLimited;
    private readonly FaultLog[] _faultLogs;
    private Nic[] _nics = [];
    private bool _disposed;

    /// <summary>Creates a stack.</summary>
    public NetworkStack(NetworkStackOptions? options = null)
    {
        Options = options ?? new NetworkStackOptions();
        Clock = Options.TimeProvider;
        Pool = Options.Pool;
        Random? seeded = Options.RandomSeed is int seed ? new Random(seed) : null;
        Random random = seeded ?? new Random();
        _ipv4Ids = new Ipv4IdGenerator(Clock, seeded);
        _ipv6FragmentIds = SipHash.Create(seeded);
        EphemeralPorts = new EphemeralPortSelector(Options.EphemeralPortMin, Options.EphemeralPortMax, seeded);
        Telemetry = new StackTelemetry(this, Options);
        Logger = Telemetry.LoggerFactory.CreateLogger("NetStack.Network");
        Drops = Telemetry.Counters(s_meter, "netstack.ip.drops", "{packet}", "Packets dropped by the network layer", Logger, "IP", drops: true, IpDropReason.LinkQueueFull);
        Events = new ReasonCounters<IpEvent>(s_meter, "netstack.ip.events", "Network-layer packet counts", Telemetry.Tags, "{packet}");
        Faults = new ReasonCounters<StackFault>(s_meter, "netstack.faults", "Exceptions caught at the stack's boundaries, by where", Telemetry.Tags, "{exception}");
        _faultLogs = [.. Enum.GetValues<StackFault>().Select(site => new FaultLog(Logger, Clock, site switch
        {
            StackFault.InboundPacket => "the stack's inbound path",
            StackFault.TcpTimer => "a TCP connection's timer",
            _ => "the stack's housekeeping",
        }))];
        PathMtu = new PathMtuCache(Clock, Options.PathMtuCacheSize, Options.PathMtuTimeout, Options.Ipv4MinPathMtu);
        Icmp = new IcmpProtocol(this, random.Next(ushort.MaxValue));
        Udp = new UdpProtocol(this);
        _transports[(int)IpProtocol.Udp] = Udp;
        Tcp = new TcpProtocol(this, Options.Tcp);
        _transports[(int)IpProtocol.Tcp] = Tcp;
        _reassembler = new FragmentReassembler(Clock, Options.Reassembly, OnReassemblyError, Telemetry.Tags);
        _reassemblyLimited = new LimitLog(Logger, Clock, "reassembly memory or per-source quota (datagrams evicted or dropped)");
        _poolLimited = new LimitLog(Logger, Clock, "packet pool MaxLiveBytes (inbound packets dropped)");
        _housekeeping = Clock.CreateTimer(static s => ((NetworkStack)s!).OnHousekeepingTimer(), this, Options.HousekeepingInterval, Options.HousekeepingInterval);
    }

    /// <summary>The stack's name: <see cref="NetworkStackOptions.Name"/>, or <c>stack-N</c> in creation order.</summary>
    public string Name => Telemetry.Name;

    /// <summary>The stack's name tag, loggers and dashboard instruments (docs/ARCHITECTURE.md §7).</summary>
    internal StackTelemetry Telemetry { get; }

    /// <summary>The options the stack was made with.</summary>
    public NetworkStackOptions Options { get; }

    /// <summary>The stack's clock.</summary>
    public TimeProvider Clock { get; }

    /// <summary>The pool outbound packets are rented from.</summary>
    public PacketBufferPool Pool { get; }

    /// <summary>Logger for rare events.</summary>
    public ILogger Logger { get; }

    /// <summary>
    /// Ephemeral ports for every transport, chosen per RFC 6056 (algorithm 4 when the remote end is known, a random
    /// start otherwise) within <see cref="NetworkStackOptions.EphemeralPortMin"/>–<see cref="NetworkStackOptions.EphemeralPortMax"/>.
    /// </summary>
    internal EphemeralPortSelector EphemeralPorts { get; }

    /// <summary>The route table.</summary>
    public RouteTable Routes { get; } = new();

    /// <summary>Network-layer drops by reason.</summary>
    public ReasonCounters<IpDropReason> Drops { get; }

    /// <summary>Network-layer packet counts.</summary>
    public ReasonCounters<IpEvent> Events { get; }

    /// <summary>
    /// Exceptions caught at the stack's boundaries — an inbound packet's protocol work, a TCP timer, the housekeeping
    /// timer — by where (each also logged, at most once a minute per place).
    /// </summary>
    public ReasonCounters<StackFault> Faults { get; }

    /// <summary>Path MTUs learned from ICMP.</summary>
    public PathMtuCache PathMtu { get; }

    /// <summary>ICMPv4/ICMPv6: echo, errors, ping.</summary>
    public IcmpProtocol Icmp { get; }

    /// <summary>UDP endpoints.</summary>
    public UdpProtocol Udp { get; }

    /// <summary>TCP: listeners, connections, the forwarder hook.</summary>
    public TcpProtocol Tcp { get; }

    /// <summary>Fragment reassembly (drop reasons and events).</summary>
    internal FragmentReassembler Reassembler => _reassembler;

    /// <summary>The NICs.</summary>
    public IReadOnlyList<Nic> Nics => Volatile.Read(ref _nics);

    /// <summary>Creates a NIC over <paramref name="link"/> and attaches to it.</summary>
    public Nic CreateNic(ILinkEndpoint link, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(link);
        Nic nic;
        lock (_gate)
        {
            nic = new Nic(this, _nics.Length + 1, name ?? $"nic{_nics.Length + 1}", link);
            Volatile.Write(ref _nics, [.. _nics, nic]);
        }
        link.Attach(nic);
        return nic;
    }

    /// <summary>True when some NIC owns <paramref name="address"/>.</summary>
    public bool IsLocalAddress(System.Net.IPAddress address) => IsLocalAddress(NetAddress.FromIPAddress(address ?? throw new ArgumentNullException(nameof(address))));

    /// <summary>True when some NIC owns <paramref name="address"/>.</summary>
    public bool IsLocalAddress(NetAddress address)
    {
        foreach (Nic nic in Volatile.Read(ref _nics))
        {
            if (nic.HasAddress(address))
            {
                return true;
            }
        }
        return false;
    }

    internal void RegisterTransport(IpProtocol protocol, ITransportProtocol transport) => _transports[(int)protocol] = transport;

    internal ITransportProtocol? Transport(IpProtocol protocol) => _transports[(int)protocol];

    /// <summary>
    /// Resolves how to reach <paramref name="destination"/>: the route's NIC, a source address (the given one,
    /// which must be local unless the NIC spoofs, or the NIC's primary address) and the path MTU.
    /// </summary>
    internal SendResult TryResolveRoute(NetAddress destination, NetAddress source, out RouteInfo route)
    {
        route = default;
        Route? r = Routes.Find(destination);
        if (r is null)
        {
            Drops.Increment(IpDropReason.NoRoute);
            return SendResult.NoRoute;
        }
        if (source.IsNone || source.IsUnspecified)
        {
            source = r.Nic.PrimaryAddress(destination.Version);
            if (source.IsNone)
            {
                Drops.Increment(IpDropReason.NoSourceAddress);
                return SendResult.NoSourceAddress;
            }
        }
        else if (source.Version != destination.Version || (!r.Nic.Spoofing && !IsLocalAddress(source)))
        {
            Drops.Increment(IpDropReason.NoSourceAddress);
            return SendResult.NoSourceAddress;
        }
        int mtu = r.Mtu > 0 ? Math.Min(r.Mtu, r.Nic.Mtu) : r.Nic.Mtu;
        mtu = PathMtu.Get(destination, mtu);
        route = new RouteInfo(r.Nic, source, destination, mtu);
        return SendResult.Sent;
    }

    /// <summary>
    /// <paramref name="route"/> for a connection that keeps it (<paramref name="flowKey"/>: its ports): over IPv4 it
    /// gets an identification counter of its own (<see cref="Ipv4FlowIds"/>), seeded by one keyed hash here.
    /// </summary>
    internal RouteInfo ForConnection(in RouteInfo route, IpProtocol protocol, ulong flowKey) => route.Destination.IsV4
        ? route with { Ipv4Ids = new Ipv4FlowIds(_ipv4Ids.FlowStart(route.Source.V4, route.Destination.V4, (byte)protocol, flowKey)) }
        : route;

    /// <summary>Runs timers that are due (reassembly expiry). The housekeeping timer calls it; a driver may too.</summary>
    public void Housekeeping()
    {
        if (_disposed)
        {
            return;
        }
        lock (_reassemblyLock)
        {
            _reassembler.ExpireDue();
        }
    }

    /// <summary>
    /// The housekeeping timer's callback: a fault costs this run, never the timer or the process (an exception out of
    /// a timer callback ends the process).
    /// </summary>
    private void OnHousekeepingTimer()
    {
        try
        {
            Housekeeping();
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            ReportFault(StackFault.Housekeeping, e);
        }
    }

    /// <summary>Counts and logs (rate-limited) an exception caught at one of the stack's boundaries.</summary>
    /// <param name="site">Where it was caught.</param>
    /// <param name="e">What was thrown.</param>
    /// <param name="packet">The packet being worked on, still readable (owned or borrowed by the caller), or null.</param>
    internal void ReportFault(StackFault site, Exception e, PacketBuffer? packet = null)
    {
        Faults.Increment(site);
        _faultLogs[(int)site].Report(e, packet);
    }

    /// <summary>
    /// Stops timers, releases held fragments, detaches the links and ends TCP: listeners close and every connection
    /// is aborted, so no buffer stays live. Endpoints should be closed first.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _housekeeping.Dispose();
        lock (_reassemblyLock)
        {
            _reassembler.Dispose();
        }
        foreach (Nic nic in Volatile.Read(ref _nics))
        {
            nic.Link.Attach(null);
        }
        Tcp.Shutdown(); // after the links: no segment opens a connection behind it
    }

    /// <summary>
    /// Bytes the network and transport layers read from the head: the IP header, extension headers and the
    /// transport header must be contiguous there (ARCHITECTURE.md §3).
    /// </summary>
    internal const int HeaderPullUpLength = 256;

    /// <summary>
    /// Entry point from a NIC: one network-layer packet, borrowed for the call. The packet path's exception boundary
    /// (docs/ARCHITECTURE.md §6): whatever protocol work on the packet throws costs this packet — dropped, counted
    /// (<see cref="IpDropReason.ProcessingFault"/>, <see cref="StackFault.InboundPacket"/>) and logged at most once a
    /// minute — never the device's reader that called in.
    /// </summary>
    internal void Deliver(Nic nic, NetworkProtocol protocol, PacketBuffer packet)
    {
        _ = protocol; // the version nibble decides; the link's classification is only a hint
        try
        {
            DeliverPacket(nic, packet);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            Drops.Increment(IpDropReason.ProcessingFault);
            ReportFault(StackFault.InboundPacket, e, packet);
        }
    }

    /// <summary>One inbound packet (borrowed), its headers made contiguous first.</summary>
    private void DeliverPacket(Nic nic, PacketBuffer packet)
    {
        Events.Increment(IpEvent.PacketsReceived);
        if (packet.Pool.IsOverLimit)
        {
            Drops.Increment(IpDropReason.PoolLimit); // the global cap (docs/ARCHITECTURE.md §6): memory stays bounded
            _poolLimited.Hit();
            return;
        }
        // A reassembled datagram holds only the IP header in its head, and a packet passed by reference over an
        // in-process link (fragments, ICMP errors) may hold even less: copy the headers into a fresh head.
        int wanted = packet.Head.Length >= packet.Length ? packet.Length : Math.Min(packet.Length, HeadersLength(packet));
        if (packet.Head.Length < wanted)
        {
            PacketBuffer? pulled = PullUp(packet, wanted);
            if (pulled is null)
            {
                DeliverContiguous(nic, packet); // too many pieces to re-reference: the parsers drop what they cannot read
                return;
            }
            try
            {
                DeliverContiguous(nic, pulled);
            }
            finally
            {
                pulled.Release();
            }
            return;
        }
        DeliverContiguous(nic, packet);
    }

    /// <summary>
    /// How many leading bytes the parsers need contiguous: <see cref="HeaderPullUpLength"/>, or for IPv6 more when its
    /// extension headers (RFC 8200 §4: hop-by-hop, routing, fragment, destination options, AH) run longer, plus the
    /// largest transport header. A reassembled datagram can carry any number of them in its payload.
    /// </summary>
    private static int HeadersLength(PacketBuffer packet)
    {
        const int MaxTransportHeader = 60; // TCP with full options
        const int MaxExtensionHeaders = 16; // more are dropped by the parser anyway (docs/ARCHITECTURE.md §6)
        Span<byte> two = stackalloc byte[2];
        if (packet.Length < Ipv6Header.Length || packet.Head.IsEmpty || packet.Head[0] >> 4 != 6)
        {
            return HeaderPullUpLength;
        }
        packet.CopyTo(6, two[..1]);
        var next = (IpProtocol)two[0];
        int offset = Ipv6Header.Length;
        for (int i = 0; i < MaxExtensionHeaders && offset + 2 <= packet.Length; i++)
        {
            packet.CopyTo(offset, two);
            switch (next)
            {
                case IpProtocol.HopByHop or IpProtocol.Ipv6Route or IpProtocol.Ipv6DestinationOptions:
                    offset += (two[1] + 1) * 8;
                    break;
                case IpProtocol.Ipv6Fragment:
                    offset += 8;
                    break;
                case IpProtocol.Ah:
                    offset += (two[1] + 2) * 4;
                    break;
                default:
                    return Math.Max(HeaderPullUpLength, offset + MaxTransportHeader);
            }
            next = (IpProtocol)two[0];
        }
        return Math.Max(HeaderPullUpLength, offset + MaxTransportHeader);
    }

    /// <summary>A new packet with the first <paramref name="length"/> bytes of <paramref name="packet"/> copied into its head and the rest referenced.</summary>
    private static PacketBuffer? PullUp(PacketBuffer packet, int length)
    {
        PacketBuffer pulled = packet.Pool.Rent(length);
        packet.CopyTo(0, pulled.Append(length));
        if (!pulled.AppendReference(packet, length, packet.Length - length))
        {
            pulled.Release();
            return null;
        }
        pulled.NetworkProtocol = packet.NetworkProtocol;
        pulled.RxChecksumValidated = packet.RxChecksumValidated;
        pulled.Gso = packet.Gso; // a super-segment stays one: TCP counts the wire segments it stands for
        pulled.SegmentsRepresented = packet.SegmentsRepresented;
        return pulled;
    }

    private void DeliverContiguous(Nic nic, PacketBuffer packet)
    {
        ReadOnlySpan<byte> head = packet.Head;
        int version = head.IsEmpty ? 0 : head[0] >> 4;
        if (version == 4)
        {
            DeliverIpv4(nic, packet);
        }
        else if (version == 6)
        {
            DeliverIpv6(nic, packet);
        }
        else
        {
            Drops.Increment(IpDropReason.BadVersion);
        }
    }

    /// <summary>Hands a fragment to reassembly; delivers the datagram when it completes.</summary>
    private void Reassemble(Nic nic, PacketBuffer fragment)
    {
        ReassemblyResult result;
        long evictedBefore = _reassembler.Events[ReassemblyEvent.DatagramEvicted];
        lock (_reassemblyLock)
        {
            result = _reassembler.Process(fragment.AddRef());
        }
        if (_reassembler.Events[ReassemblyEvent.DatagramEvicted] != evictedBefore
            || result.DropReason is ReassemblyDropReason.MemoryLimit or ReassemblyDropReason.SourceQuota)
        {
            _reassemblyLimited.Hit();
        }
        switch (result.Status)
        {
            case ReassemblyStatus.Completed:
                PacketBuffer datagram = result.Packet!;
                try
                {
                    Events.Increment(IpEvent.DatagramsReassembled);
                    DeliverPacket(nic, datagram);
                }
                finally
                {
                    datagram.Release();
                }
                break;
            case ReassemblyStatus.Dropped:
                Drops.Increment(IpDropReason.Fragment);
                break;
        }
    }

    private void OnReassemblyError(PacketBuffer packet, ReassemblyDropReason reason)
    {
        // RFC 792 / RFC 4443 §3.3: Time Exceeded, code 1 (fragment reassembly time exceeded).
        // RFC 8200 §4.5: Parameter Problem code 0 for a bad fragment length.
        if (reason == ReassemblyDropReason.Timeout)
        {
            Logger.LogDebug("Reassembly timed out for a datagram; sending ICMP Time Exceeded");
            Icmp.SendErrorAbout(packet, IcmpErrorKind.ReassemblyTimeExceeded, 0);
        }
        else if (reason is ReassemblyDropReason.NotMultipleOf8 or ReassemblyDropReason.TooLong)
        {
            // RFC 8200 §4.5: the pointer names the Payload Length field (offset 4) for a fragment whose length is
            // not a multiple of 8, the Fragment Offset field otherwise — behind any unfragmentable headers.
            uint pointer = Ipv6Header.PayloadLengthOffset;
            if (reason == ReassemblyDropReason.TooLong)
            {
                if (!IpLayout.TryLocate(packet.Head, packet.Length, out IpLayout layout, out _) || layout.FragmentHeaderOffset < 0)
                {
                    return;
                }
                pointer = (uint)(layout.FragmentHeaderOffset + Ipv6FragmentHeader.FragmentOffsetField);
            }
            Icmp.SendErrorAbout(packet, IcmpErrorKind.ParameterProblem, pointer);
        }
        else if (reason == ReassemblyDropReason.IncompleteHeaderChain)
        {
            Icmp.SendErrorAbout(packet, IcmpErrorKind.IncompleteHeaderChain, 0); // RFC 7112 §5: pointer 0
        }
    }

    /// <summary>Hands one packet to the NIC's link; takes ownership.</summary>
    private SendResult WriteToLink(Nic nic, PacketBuffer packet, bool fragment)
    {
        Span<PacketBuffer> one = [packet];
        int length = packet.Length; // read before the link owns it
        if (nic.Link.WritePackets(one) == 1)
        {
            Telemetry.Sent(length);
            Events.Increment(fragment ? IpEvent.FragmentsSent : IpEvent.PacketsSent);
            return SendResult.Sent;
        }
        packet.Release();
        Drops.Increment(IpDropReason.LinkQueueFull);
        return SendResult.QueueFull;
    }
}
