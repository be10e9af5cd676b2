// ICMPv4 message types and destination-unreachable codes (RFC 792, RFC 1191, RFC 1812 §5.2.7.1).
namespace NetStack.Wire;

/// <summary>ICMPv4 message types (RFC 792) the stack names.</summary>
public enum IcmpV4Type : byte
{
    /// <summary>Echo reply (RFC 792).</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable (RFC 792); code is an <see cref="IcmpV4UnreachableCode"/>.</summary>
    DestinationUnreachable = 3,
    /// <summary>Source quench (RFC 792; deprecated by RFC 6633).</summary>
    SourceQuench = 4,
    /// <summary>Redirect (RFC 792).</summary>
    Redirect = 5,
    /// <summary>Echo request (RFC 792).</summary>
    EchoRequest = 8,
    /// <summary>Time exceeded (RFC 792): code 0 TTL exceeded in transit, 1 fragment reassembly time exceeded.</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem (RFC 792): the pointer names the offending octet.</summary>
    ParameterProblem = 12,
    /// <summary>Timestamp request (RFC 792).</summary>
    Timestamp = 13,
    /// <summary>Timestamp reply (RFC 792).</summary>
    TimestampReply = 14,
}

/// <summary>Codes of ICMPv4 destination unreachable (RFC 792; RFC 1122 §3.2.2.1; RFC 1812 §5.2.7.1).</summary>
public enum IcmpV4UnreachableCode : byte
{
    /// <summary>Net unreachable.</summary>
    NetUnreachable = 0,
    /// <summary>Host unreachable.</summary>
    HostUnreachable = 1,
    /// <summary>Protocol unreachable.</summary>
    ProtocolUnreachable = 2,
    /// <summary>Port unreachable.</summary>
    PortUnreachable = 3,
    /// <summary>Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4).</summary>
    FragmentationNeeded = 4,
    /// <summary>Source route failed.</summary>
    SourceRouteFailed = 5,
    /// <summary>Destination network unknown.</summary>
    NetUnknown = 6,
    /// <summary>Destination host unknown.</summary>
    HostUnknown = 7,
    /// <summary>Source host isolated.</summary>
    SourceHostIsolated = 8,
    /// <summary>Communication with destination network administratively prohibited.</summary>
    NetProhibited = 9,
    /// <summary>Communication with destination host administratively prohibited.</summary>
    HostProhibited = 10,
    /// <summary>Network unreachable for type of service.</summary>
    NetUnreachableForTos = 11,
    /// <summary>Host unreachable for type of service.</summary>
    HostUnreachableForTos = 12,
    /// <summary>Communication administratively prohibited (RFC 1812).</summary>
    CommunicationProhibited = 13,
    /// <summary>Host precedence violation (RFC 1812).</summary>
    HostPrecedenceViolation = 14,
    /// <summary>Precedence cutoff in effect (RFC 1812).</summary>
    PrecedenceCutoff = 15,
}
