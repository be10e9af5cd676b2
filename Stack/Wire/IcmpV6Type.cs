// ICMPv6 message types and destination-unreachable codes (RFC 4443 §2.1, §3.1; RFC 4861 §4).
namespace NetStack.Wire;

/// <summary>ICMPv6 message types the stack names. Types 0–127 are errors, 128–255 informational (RFC 4443 §2.1).</summary>
public enum IcmpV6Type : byte
{
    /// <summary>Destination unreachable (RFC 4443 §3.1); code is an <see cref="IcmpV6UnreachableCode"/>.</summary>
    DestinationUnreachable = 1,
    /// <summary>Packet too big (RFC 4443 §3.2), carries the next-hop MTU.</summary>
    PacketTooBig = 2,
    /// <summary>Time exceeded (RFC 4443 §3.3): code 0 hop limit exceeded, 1 reassembly time exceeded.</summary>
    TimeExceeded = 3,
    /// <summary>Parameter problem (RFC 4443 §3.4), carries a pointer.</summary>
    ParameterProblem = 4,
    /// <summary>Echo request (RFC 4443 §4.1).</summary>
    EchoRequest = 128,
    /// <summary>Echo reply (RFC 4443 §4.2).</summary>
    EchoReply = 129,
    /// <summary>Router solicitation (RFC 4861 §4.1).</summary>
    RouterSolicitation = 133,
    /// <summary>Router advertisement (RFC 4861 §4.2).</summary>
    RouterAdvertisement = 134,
    /// <summary>Neighbor solicitation (RFC 4861 §4.3).</summary>
    NeighborSolicitation = 135,
    /// <summary>Neighbor advertisement (RFC 4861 §4.4).</summary>
    NeighborAdvertisement = 136,
    /// <summary>Redirect (RFC 4861 §4.5).</summary>
    Redirect = 137,
}

/// <summary>Codes of ICMPv6 destination unreachable (RFC 4443 §3.1).</summary>
public enum IcmpV6UnreachableCode : byte
{
    /// <summary>No route to destination.</summary>
    NoRoute = 0,
    /// <summary>Communication with destination administratively prohibited.</summary>
    AdministrativelyProhibited = 1,
    /// <summary>Beyond scope of source address.</summary>
    BeyondScope = 2,
    /// <summary>Address unreachable.</summary>
    AddressUnreachable = 3,
    /// <summary>Port unreachable.</summary>
    PortUnreachable = 4,
    /// <summary>Source address failed ingress/egress policy.</summary>
    SourcePolicyFailed = 5,
    /// <summary>Reject route to destination.</summary>
    RejectRoute = 6,
}
