namespace NetStack.Wire;

/// <summary>IANA protocol numbers (IPv4 "Protocol", IPv6 "Next Header") used by the stack.</summary>
public enum IpProtocol : byte
{
    /// <summary>IPv6 hop-by-hop options (RFC 8200 §4.3).</summary>
    HopByHop = 0,
    /// <summary>ICMP for IPv4 (RFC 792).</summary>
    Icmp = 1,
    /// <summary>TCP (RFC 9293).</summary>
    Tcp = 6,
    /// <summary>UDP (RFC 768).</summary>
    Udp = 17,
    /// <summary>IPv6 routing header (RFC 8200 §4.4).</summary>
    Ipv6Route = 43,
    /// <summary>IPv6 fragment header (RFC 8200 §4.5).</summary>
    Ipv6Fragment = 44,
    /// <summary>Encapsulating security payload (RFC 4303).</summary>
    Esp = 50,
    /// <summary>Authentication header (RFC 4302).</summary>
    Ah = 51,
    /// <summary>ICMP for IPv6 (RFC 4443).</summary>
    IcmpV6 = 58,
    /// <summary>No next header (RFC 8200 §4.7).</summary>
    Ipv6NoNext = 59,
    /// <summary>IPv6 destination options (RFC 8200 §4.6).</summary>
    Ipv6DestinationOptions = 60,
}

/// <summary>The network-layer protocol of a packet, as an EtherType value.</summary>
public enum NetworkProtocol : ushort
{
    /// <summary>Unknown or not yet classified.</summary>
    None = 0,
    /// <summary>IPv4 (EtherType 0x0800).</summary>
    IPv4 = 0x0800,
    /// <summary>IPv6 (EtherType 0x86DD).</summary>
    IPv6 = 0x86DD,
}
