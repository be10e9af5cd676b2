using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Icmp;

/// <summary>ICMP error kinds, for both versions (what the stack sends and what it reports to transports).</summary>
public enum IcmpErrorKind
{
    /// <summary>v4 3/0, v6 1/0: no route.</summary>
    NetUnreachable,
    /// <summary>v4 3/1, v6 1/3: address unreachable.</summary>
    HostUnreachable,
    /// <summary>v4 3/2: protocol unreachable (v6 uses Parameter Problem code 1).</summary>
    ProtocolUnreachable,
    /// <summary>v4 3/3, v6 1/4: port unreachable.</summary>
    PortUnreachable,
    /// <summary>v4 3/4 (RFC 1191), v6 type 2 (RFC 8201): the path MTU is smaller.</summary>
    PacketTooBig,
    /// <summary>v4 3/9,10,13, v6 1/1: administratively prohibited.</summary>
    AdministrativelyProhibited,
    /// <summary>v4 11/0, v6 3/0: TTL or hop limit exceeded in transit.</summary>
    TimeExceeded,
    /// <summary>v4 11/1, v6 3/1: fragment reassembly time exceeded.</summary>
    ReassemblyTimeExceeded,
    /// <summary>v4 12, v6 4/0: erroneous header field.</summary>
    ParameterProblem,
    /// <summary>v6 4/1: unrecognized next header.</summary>
    UnrecognizedNextHeader,
    /// <summary>v6 4/2: unrecognized IPv6 option.</summary>
    UnrecognizedOption,
    /// <summary>v6 4/3: first fragment without the whole header chain (RFC 7112 §5).</summary>
    IncompleteHeaderChain,
    /// <summary>Anything else (other unreachable codes, source quench).</summary>
    Other,
}

/// <summary>
/// An ICMP error about a packet this stack sent, as a transport sees it: addresses and ports are those of the
/// quoted (original, outbound) packet, so <see cref="LocalAddress"/> is ours.
/// </summary>
public readonly record struct IcmpError
{
    /// <summary>What went wrong.</summary>
    public required IcmpErrorKind Kind { get; init; }

    /// <summary>The raw ICMP code.</summary>
    public byte Code { get; init; }

    /// <summary>For <see cref="IcmpErrorKind.PacketTooBig"/>: the MTU reported (0 when the router gave none).</summary>
    public int Mtu { get; init; }

    /// <summary>The router or host that sent the error.</summary>
    public required NetAddress Reporter { get; init; }

    /// <summary>Source of the quoted packet (our address).</summary>
    public required NetAddress LocalAddress { get; init; }

    /// <summary>Destination of the quoted packet.</summary>
    public required NetAddress RemoteAddress { get; init; }

    /// <summary>Transport protocol of the quoted packet.</summary>
    public required IpProtocol Protocol { get; init; }

    /// <summary>Quoted source port (ours).</summary>
    public ushort LocalPort { get; init; }

    /// <summary>Quoted destination port.</summary>
    public ushort RemotePort { get; init; }

    /// <summary>
    /// Bytes 4–7 of the quoted transport header: for TCP the sequence number of the segment the error is about,
    /// which a connection must find within SND.UNA..SND.NXT before it acts on the error (RFC 5927 §4.1). Valid only
    /// when <see cref="HasQuotedSequence"/>.
    /// </summary>
    public uint QuotedSequence { get; init; }

    /// <summary>True when the quote held at least 8 bytes of the transport header, so <see cref="QuotedSequence"/> is real (not a zero filler).</summary>
    public bool HasQuotedSequence { get; init; }
}
