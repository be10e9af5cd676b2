// Layer: network (ICMP). Echo for both versions, error generation with rate limiting, and error input
// handed to the transport the quoted packet belongs to (path MTU updates happen here).
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Diagnostics;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Icmp;

/// <summary>Counted ICMP events and drops.</summary>
public enum IcmpEvent
{
    /// <summary>Echo requests answered.</summary>
    EchoRepliesSent,
    /// <summary>Echo replies matched to a ping.</summary>
    EchoRepliesReceived,
    /// <summary>Error messages sent.</summary>
    ErrorsSent,
    /// <summary>Errors not sent because of the rate limit.</summary>
    ErrorsRateLimited,
    /// <summary>Errors not sent because the RFC forbids it (error about an error, multicast, non-first fragment…).</summary>
    ErrorsSuppressed,
    /// <summary>Errors received and handed to a transport.</summary>
    ErrorsReceived,
    /// <summary>Path MTU lowered by an ICMP message about UDP or another transport (TCP lowers it after its own check, counted as <see cref="Tcp.TcpEvent.PathMtuDecreased"/>).</summary>
    PathMtuUpdates,
    /// <summary>Echo requests not answered because of the rate limits (global, or per destination when <see cref="NetworkStackOptions.IcmpRateMask"/> names echo replies).</summary>
    EchoRepliesRateLimited,
    /// <summary>Error messages received and dropped because their source is over <see cref="NetworkStackOptions.IcmpErrorInputPerSecond"/>.</summary>
    ErrorsInputRateLimited,
    /// <summary>Packet Too Big messages ignored: below the IPv6 minimum MTU (RFC 8201 §4), or quoting a packet we did not send.</summary>
    PathMtuIgnored,
    /// <summary>Dropped: message too short or malformed.</summary>
    DroppedMalformed,
    /// <summary>Dropped: checksum wrong.</summary>
    DroppedChecksum,
    /// <summary>Received messages of types we ignore (ND, router advertisements, unmatched replies…).</summary>
    Ignored,
}

/// <summary>An echo request to another host, shown to <see cref="IcmpProtocol.EchoForwarder"/>; valid only during the call.</summary>
public readonly ref struct IcmpEchoRequest
{
    internal IcmpEchoRequest(PacketBuffer packet, int dataOffset, int dataLength, NetAddress source, NetAddress destination, ushort identifier, ushort sequenceNumber)
    {
        Packet = packet;
        DataOffset = dataOffset;
        DataLength = dataLength;
        Source = source;
        Destination = destination;
        Identifier = identifier;
        SequenceNumber = sequenceNumber;
    }

    /// <summary>The packet holding the request.</summary>
    public PacketBuffer Packet { get; }

    /// <summary>Where the echo data starts in <see cref="Packet"/>.</summary>
    public int DataOffset { get; }

    /// <summary>The echo data's length.</summary>
    public int DataLength { get; }

    /// <summary>Who pings.</summary>
    public NetAddress Source { get; }

    /// <summary>Whom it pings.</summary>
    public NetAddress Destination { get; }

    /// <summary>The echo identifier.</summary>
    public ushort Identifier { get; }

    /// <summary>The echo sequence number.</summary>
    public ushort SequenceNumber { get; }

    /// <summary>Copies the echo data to <paramref name="destination"/>; returns the count.</summary>
    public int CopyDataTo(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, DataLength);
        Packet.CopyTo(DataOffset, destination[..n]);
        return n;
    }
}

/// <summary>Takes an echo request to another host; false leaves it to the stack (which answers it itself).</summary>
public delegate bool IcmpEchoHandler(in IcmpEchoRequest request);

/// <summary>ICMPv4 (RFC 792, RFC 1122 §3.2.2) and ICMPv6 (RFC 4443) for a <see cref="NetworkStack"/>.</summary>
public sealed class IcmpProtocol
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = StackMeters.Icmp;
    private readonly NetworkStack _stack;
    private readonly ConcurrentDictionary<(ushort Id, ushort Seq), TaskCompletionSource<long>> _pings = new();
    private readonly Lock _bucketLock = new();
    private readonly AddressRateLimiter? _perDestination;
    private readonly AddressRateLimiter _perSourceInput;
    private readonly LimitLog _outputLimited;
    private readonly LimitLog _inputLimited;
    private double _tokens;
    private long _lastRefill;
    private int _nextPingId;

    /// <summary>Linux's XRLIM_BURST_FACTOR: a destination may receive this many rate-limited messages at once.</summary>
    private const int PerDestinationBurst = 6;

    internal IcmpProtocol(NetworkStack stack, int firstPingId)
    {
        _stack = stack;
        _nextPingId = firstPingId;
        NetworkStackOptions options = stack.Options;
        _tokens = options.IcmpMsgsBurst;
        _lastRefill = stack.Clock.GetTimestamp();
        if (options.IcmpRateLimit > TimeSpan.Zero)
        {
            _perDestination = new AddressRateLimiter(stack.Clock, options.IcmpPeerTableSize, options.IcmpRateLimit, PerDestinationBurst);
        }
        _perSourceInput = new AddressRateLimiter(stack.Clock, options.IcmpPeerTableSize,
            TimeSpan.FromSeconds(1.0 / Math.Max(1, options.IcmpErrorInputPerSecond)), options.IcmpErrorInputBurst);
        _outputLimited = new LimitLog(stack.Logger, stack.Clock, "ICMP output rate limit (icmp_msgs_per_sec / icmp_ratelimit)");
        _inputLimited = new LimitLog(stack.Logger, stack.Clock, "ICMP error input rate limit per source");
        Events = new ReasonCounters<IcmpEvent>(s_meter, "netstack.icmp.events", "ICMP events", stack.Telemetry.Tags, "{message}");
    }

    /// <summary>ICMP counters.</summary>
    public ReasonCounters<IcmpEvent> Events { get; }

    /// <summary>
    /// Sees each echo request to an address that is not the stack's own (taken in by a promiscuous NIC) before the
    /// stack answers it itself: a relay pings the real destination and answers with <see cref="SendEchoReply"/>,
    /// or drops the request. Runs on the delivering thread and must not block; true means taken.
    /// </summary>
    public IcmpEchoHandler? EchoForwarder { get; set; }

    /// <summary>
    /// Sends an echo reply from <paramref name="source"/> (any address through a spoofing NIC: the address a relayed
    /// request was going to) to <paramref name="destination"/>, echoing <paramref name="data"/> (RFC 792, RFC 4443 §4.2).
    /// </summary>
    public bool SendEchoReply(NetAddress source, NetAddress destination, ushort identifier, ushort sequenceNumber, ReadOnlySpan<byte> data)
    {
        PacketBuffer payload = _stack.Pool.RentCopy(data, 0);
        try
        {
            return SendEcho(destination, source, request: false, identifier, sequenceNumber, payload, data.Length) == SendResult.Sent;
        }
        finally
        {
            payload.Release();
        }
    }

    /// <summary>
    /// Sends an echo request to <paramref name="destination"/> and waits for the reply; returns the round-trip
    /// time measured on the stack's clock. Throws <see cref="TimeoutException"/> when no reply comes in time.
    /// </summary>
    public Task<TimeSpan> PingAsync(IPAddress destination, int payloadLength = 56, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return PingAsync(NetAddress.FromIPAddress(destination), payloadLength, timeout, cancellationToken);
    }

    internal async Task<TimeSpan> PingAsync(NetAddress destination, int payloadLength = 56, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ushort id = (ushort)Interlocked.Increment(ref _nextPingId);
        var key = (id, (ushort)1);
        var tcs = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pings[key] = tcs;
        try
        {
            long start = _stack.Clock.GetTimestamp();
            SendResult sent = SendEcho(destination, default, request: true, id, 1, payload: null, payloadLength);
            if (sent != SendResult.Sent)
            {
                throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NetworkUnreachable);
            }
            // The reply's arrival time is taken when it arrives, so a virtual clock gives an exact RTT.
            long arrived = await tcs.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(5), _stack.Clock, cancellationToken).ConfigureAwait(false);
            return _stack.Clock.GetElapsedTime(start, arrived);
        }
        finally
        {
            _pings.TryRemove(key, out _);
        }
    }

    /// <summary>ICMP input. The packet is borrowed.</summary>
    internal void Deliver(in IpPacketInfo info, PacketBuffer packet)
    {
        bool v4 = info.Version == NetworkProtocol.IPv4;
        ReadOnlySpan<byte> head = packet.Head;
        ReadOnlySpan<byte> message = info.TransportOffset <= head.Length ? head[info.TransportOffset..] : default;
        message = message[..Math.Min(message.Length, info.TransportLength)];
        if (!IcmpV4Header.TryCreate(message, out IcmpV4Header v4Header, out _) || !IcmpV6Header.TryCreate(message, out IcmpV6Header v6Header, out _))
        {
            Events.Increment(IcmpEvent.DroppedMalformed);
            return;
        }
        // RFC 792 / RFC 4443 §2.3: the checksum covers the message (and for ICMPv6 the pseudo-header).
        if (TransportChecksum.Verify(packet, info.Version, info.Protocol, info.TransportOffset, info.TransportLength) != TransportChecksumStatus.Good)
        {
            Events.Increment(IcmpEvent.DroppedChecksum);
            return;
        }
        byte type, code;
        ushort id, seq;
        uint mtu;
        if (v4 && IcmpV4Repr.TryParse(v4Header, out IcmpV4Repr m4, out _))
        {
            (type, code, id, seq, mtu) = ((byte)m4.Type, m4.Code, m4.Identifier, m4.SequenceNumber, m4.NextHopMtu);
        }
        else if (!v4 && IcmpV6Repr.TryParse(v6Header, out IcmpV6Repr m6, out _))
        {
            (type, code, id, seq, mtu) = ((byte)m6.Type, m6.Code, m6.Identifier, m6.SequenceNumber, m6.Mtu);
        }
        else
        {
            Events.Increment(IcmpEvent.Ignored); // ND, RA, timestamps, redirects, …: not needed on an L3 link
            return;
        }
        if (v4 ? type == (byte)IcmpV4Type.EchoRequest : type == (byte)IcmpV6Type.EchoRequest)
        {
            // RFC 1122 §3.2.2.6 / RFC 4443 §4.2: reply with the same identifier, sequence and data, from the address
            // pinged — unless that was a multicast or broadcast address (a promiscuous NIC takes them): then from
            // one of ours, never from a group (RFC 1122 §3.2.1.3, RFC 4443 §4.2).
            NetAddress replySource = info.Destination.IsMulticast || info.Nic.IsBroadcast(info.Destination) ? default : info.Destination;
            if (EchoForwarder is { } forwarder && !replySource.IsNone && !_stack.IsLocalAddress(replySource)
                && forwarder(new IcmpEchoRequest(packet, info.TransportOffset + IcmpV4Header.HeaderLength, info.TransportLength - IcmpV4Header.HeaderLength, info.Source, info.Destination, id, seq)))
            {
                return;
            }
            if (!AllowOutput(info.Source, info.Nic, IcmpRateClass.EchoReply))
            {
                Events.Increment(IcmpEvent.EchoRepliesRateLimited);
                return;
            }
            if (SendEcho(info.Source, replySource, request: false, id, seq, packet, info.TransportLength - IcmpV4Header.HeaderLength,
                    payloadOffset: info.TransportOffset + IcmpV4Header.HeaderLength, trafficClass: info.TrafficClass) == SendResult.Sent)
            {
                Events.Increment(IcmpEvent.EchoRepliesSent);
            }
            return;
        }
        if (v4 ? type == (byte)IcmpV4Type.EchoReply : type == (byte)IcmpV6Type.EchoReply)
        {
            if (_pings.TryGetValue((id, seq), out var tcs) && tcs.TrySetResult(_stack.Clock.GetTimestamp()))
            {
                Events.Increment(IcmpEvent.EchoRepliesReceived);
            }
            else
            {
                Events.Increment(IcmpEvent.Ignored);
            }
            return;
        }
        if (TryClassifyError(v4, type, code, out IcmpErrorKind kind))
        {
            // A flood of (forged) errors from one source costs a table lookup each, not a quote parse.
            if (!_perSourceInput.TryTake(info.Source))
            {
                Events.Increment(IcmpEvent.ErrorsInputRateLimited);
                _inputLimited.Hit();
                return;
            }
            HandleError(info, packet, kind, code, mtu, v4);
            return;
        }
        Events.Increment(IcmpEvent.Ignored);
    }

    private static bool TryClassifyError(bool v4, byte type, byte code, out IcmpErrorKind kind)
    {
        kind = IcmpErrorKind.Other;
        if (v4)
        {
            switch ((IcmpV4Type)type)
            {
                case IcmpV4Type.DestinationUnreachable:
                    kind = code switch
                    {
                        0 or 6 or 11 => IcmpErrorKind.NetUnreachable,
                        1 or 7 or 12 => IcmpErrorKind.HostUnreachable,
                        2 => IcmpErrorKind.ProtocolUnreachable,
                        3 => IcmpErrorKind.PortUnreachable,
                        4 => IcmpErrorKind.PacketTooBig,
                        9 or 10 or 13 => IcmpErrorKind.AdministrativelyProhibited,
                        _ => IcmpErrorKind.Other,
                    };
                    return true;
                case IcmpV4Type.TimeExceeded:
                    kind = code == 1 ? IcmpErrorKind.ReassemblyTimeExceeded : IcmpErrorKind.TimeExceeded;
                    return true;
                case IcmpV4Type.ParameterProblem:
                    kind = IcmpErrorKind.ParameterProblem;
                    return true;
                case IcmpV4Type.SourceQuench:
                    return true; // RFC 6633: ignored, but it is an error message about our packet
                default:
                    return false;
            }
        }
        switch ((IcmpV6Type)type)
        {
            case IcmpV6Type.DestinationUnreachable:
                kind = code switch
                {
                    0 => IcmpErrorKind.NetUnreachable,
                    1 => IcmpErrorKind.AdministrativelyProhibited,
                    3 => IcmpErrorKind.HostUnreachable,
                    4 => IcmpErrorKind.PortUnreachable,
                    _ => IcmpErrorKind.Other,
                };
                return true;
            case IcmpV6Type.PacketTooBig:
                kind = IcmpErrorKind.PacketTooBig;
                return true;
            case IcmpV6Type.TimeExceeded:
                kind = code == 1 ? IcmpErrorKind.ReassemblyTimeExceeded : IcmpErrorKind.TimeExceeded;
                return true;
            case IcmpV6Type.ParameterProblem:
                kind = code switch { 1 => IcmpErrorKind.UnrecognizedNextHeader, 2 => IcmpErrorKind.UnrecognizedOption, 3 => IcmpErrorKind.IncompleteHeaderChain, _ => IcmpErrorKind.ParameterProblem };
                return true;
            default:
                return false;
        }
    }

    /// <summary>Parses the quoted packet of an error and hands it to its transport; updates the path MTU.</summary>
    private void HandleError(in IpPacketInfo info, PacketBuffer packet, IcmpErrorKind kind, byte code, uint mtuField, bool v4)
    {
        // The quote is the ICMP payload: it need not be in the head (a packet passed by reference keeps it in
        // segments), so copy what can matter — at most a minimum-MTU packet's worth.
        int quotedOffset = info.TransportOffset + IcmpV4Header.HeaderLength;
        int quotedLength = Math.Clamp(Math.Min(info.TransportOffset + info.TransportLength, packet.Length) - quotedOffset, 0, IcmpV6Header.MaxErrorPacketLength);
        Span<byte> quoteCopy = stackalloc byte[quotedLength];
        packet.CopyTo(quotedOffset, quoteCopy);
        ReadOnlySpan<byte> quoted = quoteCopy;
        // A quote is the start of a packet: its length fields describe more than was quoted (RFC 792, RFC 4443 §2.4 (c)).
        NetAddress local, remote;
        IpLayout layout;
        bool located;
        if (v4)
        {
            if (!Ipv4Header.TryCreate(quoted, int.MaxValue, out Ipv4Header ip, out _))
            {
                Events.Increment(IcmpEvent.DroppedMalformed);
                return;
            }
            local = NetAddress.FromV4(ip.Source);
            remote = NetAddress.FromV4(ip.Destination);
            layout = IpLayout.Of(ip);
            located = true;
        }
        else
        {
            if (!Ipv6Header.TryCreate(quoted, int.MaxValue, out Ipv6Header ip, out _))
            {
                Events.Increment(IcmpEvent.DroppedMalformed);
                return;
            }
            local = NetAddress.FromV6(ip.Source);
            remote = NetAddress.FromV6(ip.Destination);
            // The quote may be cut short anywhere; a walk that fails just leaves the transport unknown.
            located = IpLayout.TryLocate(ip, out layout, out _);
        }
        IpProtocol protocol = located ? layout.Protocol : IpProtocol.Ipv6NoNext;
        // The ports (and TCP's sequence number) of the quoted transport header, when the quote holds them.
        int transport = located && layout.HasTransportHeader ? layout.TransportOffset : quoted.Length;
        int mtu = 0;
        if (kind == IcmpErrorKind.PacketTooBig)
        {
            // RFC 1191 §4: next-hop MTU in the low 16 bits (0 from old routers: assume the 576 plateau);
            // RFC 8201 §4: the MTU field of Packet Too Big.
            mtu = (int)Math.Min(mtuField, int.MaxValue);
            if (mtu == 0 && v4)
            {
                mtu = 576;
            }
            // RFC 8201 §4: a Packet Too Big below the IPv6 minimum link MTU is discarded. RFC 5927 §4.1: only trust
            // a message that quotes a packet we could have sent. An IPv4 value below min_pmtu is raised to it.
            if (!PathMtuCache.IsAcceptable(remote, mtu) || (!_stack.IsLocalAddress(local) && !info.Nic.Spoofing))
            {
                Events.Increment(IcmpEvent.PathMtuIgnored);
                return;
            }
            if (protocol == IpProtocol.Tcp)
            {
                // TCP updates the cache itself, once the quoted sequence number shows the message is about a
                // segment in flight (RFC 5927 §4.1, Linux's tcp_v4_err): a forgery quoting no connection changes nothing.
                mtu = Math.Max(mtu, remote.IsV4 ? _stack.PathMtu.Ipv4MinimumMtu : PathMtuCache.Ipv6MinimumMtu);
            }
            else
            {
                mtu = _stack.PathMtu.Update(remote, mtu);
                Events.Increment(IcmpEvent.PathMtuUpdates);
            }
        }
        bool hasSequence = quoted.Length >= transport + 8;
        var error = new IcmpError
        {
            Kind = kind,
            Code = code,
            Mtu = mtu,
            Reporter = info.Source,
            LocalAddress = local,
            RemoteAddress = remote,
            Protocol = protocol,
            LocalPort = quoted.Length >= transport + 4 ? BinaryPrimitives.ReadUInt16BigEndian(quoted[(transport + TcpHeader.SourcePortOffset)..]) : (ushort)0,
            RemotePort = quoted.Length >= transport + 4 ? BinaryPrimitives.ReadUInt16BigEndian(quoted[(transport + TcpHeader.DestinationPortOffset)..]) : (ushort)0,
            QuotedSequence = hasSequence ? TcpHeader.GetSequenceNumber(quoted[transport..]) : 0,
            HasQuotedSequence = hasSequence,
        };
        Events.Increment(IcmpEvent.ErrorsReceived);
        _stack.Transport(protocol)?.DeliverIcmpError(error);
    }

    /// <summary>Sends an error about an inbound packet that the network layer has parsed.</summary>
    internal void SendError(in IpPacketInfo info, PacketBuffer offending, IcmpErrorKind kind, uint parameter)
    {
        // RFC 1122 §3.2.2: not about a datagram sent to a broadcast address — directed ones included, which a
        // promiscuous NIC accepts.
        if (info.Nic.IsBroadcast(info.Destination))
        {
            Events.Increment(IcmpEvent.ErrorsSuppressed);
            return;
        }
        SendErrorCore(info.Source, info.Destination, offending, kind, parameter, info.TransportOffset, info.Protocol);
    }

    /// <summary>Sends an error about a raw packet (starting at its IP header), e.g. from reassembly.</summary>
    internal void SendErrorAbout(PacketBuffer offending, IcmpErrorKind kind, uint parameter)
    {
        ReadOnlySpan<byte> head = offending.Head;
        if (head.IsEmpty || !IpLayout.TryLocate(head, offending.Length, out IpLayout layout, out _))
        {
            return;
        }
        NetAddress source, destination;
        if (layout.IsV6)
        {
            Ipv6Header.TryCreate(head, offending.Length, out Ipv6Header ip, out _);
            (source, destination) = (NetAddress.FromV6(ip.Source), NetAddress.FromV6(ip.Destination));
        }
        else
        {
            Ipv4Header.TryCreate(head, offending.Length, out Ipv4Header ip, out _);
            (source, destination) = (NetAddress.FromV4(ip.Source), NetAddress.FromV4(ip.Destination));
        }
        SendErrorCore(source, destination, offending, kind, parameter, layout.TransportOffset, layout.Protocol);
    }

    private void SendErrorCore(NetAddress offenderSource, NetAddress offenderDestination, PacketBuffer offending, IcmpErrorKind kind,
        uint parameter, int transportOffset, IpProtocol protocol)
    {
        bool v4 = offenderSource.IsV4;
        // RFC 1122 §3.2.2 and RFC 4443 §2.4(e): never about an ICMP error, a multicast/broadcast destination,
        // a non-initial fragment, or a source that does not name one host.
        if (offenderSource.IsMulticast || offenderSource.IsUnspecified || offenderSource.IsLimitedBroadcast
            || (offenderDestination.IsMulticast && kind is not (IcmpErrorKind.PacketTooBig or IcmpErrorKind.UnrecognizedOption))
            || offenderDestination.IsLimitedBroadcast || IsIcmpError(offending, transportOffset, protocol, v4)
            // RFC 1122 §3.2.2: not about an IPv4 fragment other than the first. RFC 4443 §2.4(e) has no such
            // rule, and RFC 8200 §4.5 asks for Parameter Problem about a bad fragment at any offset.
            || (IsNonInitialFragment(offending) && (v4 || kind != IcmpErrorKind.ParameterProblem)))
        {
            Events.Increment(IcmpEvent.ErrorsSuppressed);
            return;
        }
        if (!AllowOutput(offenderSource, null, RateClassOf(kind)))
        {
            Events.Increment(IcmpEvent.ErrorsRateLimited);
            return;
        }
        // RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes (v4); RFC 4443 §2.4(c): within the minimum MTU.
        int limit = (v4 ? IcmpV4Header.MaxErrorDatagramLength - Ipv4Header.MinLength : IcmpV6Header.MaxErrorPacketLength - Ipv6Header.Length) - IcmpV4Header.HeaderLength;
        int quoteLength = Math.Min(offending.Length, limit);
        if (_stack.TryResolveRoute(offenderSource, offenderDestination.IsMulticast ? default : offenderDestination, out RouteInfo route) != SendResult.Sent
            && _stack.TryResolveRoute(offenderSource, default, out route) != SendResult.Sent)
        {
            return;
        }
        PacketBuffer message = _stack.Pool.Rent(IcmpV4Header.HeaderLength, IcmpV4Header.HeaderLength + route.Nic.MaxHeaderLength);
        if (!message.AppendReference(offending, 0, quoteLength))
        {
            message.Release();
            return;
        }
        Span<byte> header = message.Prepend(IcmpV4Header.HeaderLength);
        if (v4)
        {
            IcmpV4Repr repr = kind switch
            {
                IcmpErrorKind.PortUnreachable => IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.PortUnreachable),
                IcmpErrorKind.ProtocolUnreachable => IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.ProtocolUnreachable),
                IcmpErrorKind.HostUnreachable => IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.HostUnreachable),
                IcmpErrorKind.NetUnreachable => IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.NetUnreachable),
                IcmpErrorKind.AdministrativelyProhibited => IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.CommunicationProhibited), // RFC 1812 §5.2.7.1
                IcmpErrorKind.PacketTooBig => IcmpV4Repr.FragmentationNeeded((ushort)parameter),
                IcmpErrorKind.TimeExceeded => IcmpV4Repr.TimeExceeded(0),
                IcmpErrorKind.ReassemblyTimeExceeded => IcmpV4Repr.TimeExceeded(1),
                _ => IcmpV4Repr.ParameterProblem((byte)parameter),
            };
            repr.Emit(header);
            IcmpV4Header.WriteChecksum(header, InternetChecksum.Sum(message, IcmpV4Header.HeaderLength, quoteLength));
        }
        else
        {
            IcmpV6Repr repr = kind switch
            {
                IcmpErrorKind.PortUnreachable => IcmpV6Repr.DestinationUnreachable(IcmpV6UnreachableCode.PortUnreachable),
                IcmpErrorKind.HostUnreachable => IcmpV6Repr.DestinationUnreachable(IcmpV6UnreachableCode.AddressUnreachable),
                IcmpErrorKind.NetUnreachable => IcmpV6Repr.DestinationUnreachable(IcmpV6UnreachableCode.NoRoute),
                IcmpErrorKind.AdministrativelyProhibited => IcmpV6Repr.DestinationUnreachable(IcmpV6UnreachableCode.AdministrativelyProhibited),
                IcmpErrorKind.PacketTooBig => IcmpV6Repr.PacketTooBig(parameter),
                IcmpErrorKind.TimeExceeded => IcmpV6Repr.TimeExceeded(0),
                IcmpErrorKind.ReassemblyTimeExceeded => IcmpV6Repr.TimeExceeded(1),
                IcmpErrorKind.UnrecognizedNextHeader => IcmpV6Repr.ParameterProblem(1, parameter),
                IcmpErrorKind.UnrecognizedOption => IcmpV6Repr.ParameterProblem(2, parameter),
                IcmpErrorKind.IncompleteHeaderChain => IcmpV6Repr.ParameterProblem(3, parameter),
                _ => IcmpV6Repr.ParameterProblem(0, parameter),
            };
            repr.Emit(header);
            uint pseudo = NetworkStack.PseudoHeaderSum(route.Source, route.Destination, IpProtocol.IcmpV6, message.Length);
            IcmpV6Header.WriteChecksum(header, InternetChecksum.Sum(message, IcmpV4Header.HeaderLength, quoteLength, pseudo));
        }
        if (_stack.Send(route, v4 ? IpProtocol.Icmp : IpProtocol.IcmpV6, message) == SendResult.Sent)
        {
            Events.Increment(IcmpEvent.ErrorsSent);
        }
    }

    private SendResult SendEcho(NetAddress destination, NetAddress source, bool request, ushort id, ushort seq, PacketBuffer? payload, int payloadLength,
        int payloadOffset = 0, byte trafficClass = 0)
    {
        SendResult resolved = _stack.TryResolveRoute(destination, source, out RouteInfo route);
        if (resolved != SendResult.Sent)
        {
            return resolved;
        }
        bool v4 = destination.IsV4;
        PacketBuffer message = _stack.Pool.Rent(IcmpV4Header.HeaderLength + (payload is null ? payloadLength : 0), IcmpV4Header.HeaderLength + route.Nic.MaxHeaderLength);
        if (payload is null)
        {
            Span<byte> data = message.Append(payloadLength);
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (byte)i; // the classic ping pattern
            }
        }
        else if (!message.AppendReference(payload, payloadOffset, payloadLength))
        {
            message.Release();
            return SendResult.FragmentationFailed;
        }
        Span<byte> header = message.Prepend(IcmpV4Header.HeaderLength);
        if (v4)
        {
            (request ? IcmpV4Repr.EchoRequest(id, seq) : IcmpV4Repr.EchoReply(id, seq)).Emit(header);
            IcmpV4Header.WriteChecksum(header, InternetChecksum.Sum(message, IcmpV4Header.HeaderLength, payloadLength));
        }
        else
        {
            (request ? IcmpV6Repr.EchoRequest(id, seq) : IcmpV6Repr.EchoReply(id, seq)).Emit(header);
            uint pseudo = NetworkStack.PseudoHeaderSum(route.Source, route.Destination, IpProtocol.IcmpV6, message.Length);
            IcmpV6Header.WriteChecksum(header, InternetChecksum.Sum(message, IcmpV4Header.HeaderLength, payloadLength, pseudo));
        }
        return _stack.Send(route, v4 ? IpProtocol.Icmp : IpProtocol.IcmpV6, message, trafficClass: trafficClass);
    }

    private static bool IsIcmpError(PacketBuffer packet, int transportOffset, IpProtocol protocol, bool v4)
    {
        ReadOnlySpan<byte> head = packet.Head;
        // RFC 4443 §2.4(e.1): the ICMPv6 message may sit behind extension headers (an error about an option,
        // say), so find the upper layer with the locator rather than trusting the caller's view.
        if (IpLayout.TryLocate(head, packet.Length, out IpLayout layout, out _))
        {
            if (!layout.HasTransportHeader)
            {
                return false; // fragment data, no upper-layer header to look at
            }
            protocol = layout.Protocol;
            transportOffset = layout.TransportOffset;
        }
        if (protocol != (v4 ? IpProtocol.Icmp : IpProtocol.IcmpV6) || head.Length <= transportOffset)
        {
            return false;
        }
        byte type = head[transportOffset + IcmpV4Header.TypeOffset];
        return v4 ? type is not ((byte)IcmpV4Type.EchoRequest or (byte)IcmpV4Type.EchoReply or (byte)IcmpV4Type.Timestamp or (byte)IcmpV4Type.TimestampReply)
                  : type < 128; // RFC 4443 §2.1: types 0–127 are errors
    }

    private static bool IsNonInitialFragment(PacketBuffer packet) =>
        IpLayout.TryLocate(packet.Head, packet.Length, out IpLayout layout, out _) && !layout.HasTransportHeader;

    /// <summary>The ICMPv4 type whose bit in <see cref="NetworkStackOptions.IcmpRateMask"/> governs a message (ICMPv6 maps onto it).</summary>
    private enum IcmpRateClass
    {
        EchoReply = 0,
        DestinationUnreachable = 3,
        PacketTooBig = -1, // never limited: "don't limit PMTU discovery" (Linux's icmpv4_mask_allow)
        TimeExceeded = 11,
        ParameterProblem = 12,
    }

    private static IcmpRateClass RateClassOf(IcmpErrorKind kind) => kind switch
    {
        IcmpErrorKind.PacketTooBig => IcmpRateClass.PacketTooBig,
        IcmpErrorKind.TimeExceeded or IcmpErrorKind.ReassemblyTimeExceeded => IcmpRateClass.TimeExceeded,
        IcmpErrorKind.ParameterProblem or IcmpErrorKind.UnrecognizedNextHeader or IcmpErrorKind.UnrecognizedOption
            or IcmpErrorKind.IncompleteHeaderChain => IcmpRateClass.ParameterProblem,
        _ => IcmpRateClass.DestinationUnreachable,
    };

    /// <summary>
    /// Whether a message of <paramref name="rateClass"/> to <paramref name="destination"/> may go out: first the
    /// destination's own bucket when the mask names the type (Linux's <c>icmpv4_xrlim_allow</c>; not on a loopback
    /// link), then the stack's global bucket (<c>icmp_global_allow</c>). Packet Too Big passes both.
    /// </summary>
    private bool AllowOutput(NetAddress destination, Nic? nic, IcmpRateClass rateClass)
    {
        if (rateClass == IcmpRateClass.PacketTooBig)
        {
            return true;
        }
        bool loopback = nic is not null && (nic.Link.Capabilities & LinkCapabilities.Loopback) != 0;
        if (_perDestination is not null && !loopback && (_stack.Options.IcmpRateMask & (1u << (int)rateClass)) != 0
            && !_perDestination.TryTake(destination))
        {
            _outputLimited.Hit();
            return false;
        }
        if (!TakeToken())
        {
            _outputLimited.Hit();
            return false;
        }
        return true;
    }

    /// <summary>The stack's global token bucket over its clock (RFC 4443 §2.4(f), Linux's <c>icmp_global_allow</c>).</summary>
    private bool TakeToken()
    {
        lock (_bucketLock)
        {
            long now = _stack.Clock.GetTimestamp();
            double elapsed = (now - _lastRefill) / (double)_stack.Clock.TimestampFrequency;
            _lastRefill = now;
            _tokens = Math.Min(_stack.Options.IcmpMsgsBurst, _tokens + (elapsed * _stack.Options.IcmpMsgsPerSecond));
            if (_tokens < 1)
            {
                return false;
            }
            _tokens -= 1;
            return true;
        }
    }
}
