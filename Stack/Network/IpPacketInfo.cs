using NetStack.Wire;

namespace NetStack.Network;

/// <summary>
/// What the network layer learned about an inbound packet, handed to the transport with the packet itself.
/// <see cref="TransportOffset"/> is where the transport header starts in the packet (it is in the head).
/// </summary>
internal readonly record struct IpPacketInfo
{
    /// <summary>The interface it arrived on.</summary>
    public required Nic Nic { get; init; }

    /// <summary>Source address.</summary>
    public required NetAddress Source { get; init; }

    /// <summary>Destination address.</summary>
    public required NetAddress Destination { get; init; }

    /// <summary>Upper-layer protocol.</summary>
    public required IpProtocol Protocol { get; init; }

    /// <summary>Offset of the transport header from the start of the packet.</summary>
    public required int TransportOffset { get; init; }

    /// <summary>Length of the transport header plus payload.</summary>
    public required int TransportLength { get; init; }

    /// <summary>TTL or hop limit on arrival.</summary>
    public byte TimeToLive { get; init; }

    /// <summary>IPv4 TOS / IPv6 traffic class (DSCP and ECN).</summary>
    public byte TrafficClass { get; init; }

    /// <summary>IPv4 or IPv6.</summary>
    public NetworkProtocol Version => Source.Version;
}
