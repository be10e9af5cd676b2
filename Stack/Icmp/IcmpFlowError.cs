// Layer: network (ICMP). Errors about a flow rather than a packet in hand: a relay that terminates a connection or a
// datagram flow learns of a failure (a host dial refused or unreachable, a host UDP socket's ECONNREFUSED) after the
// packet is gone, so the quote (RFC 792, RFC 4443 §2.4(c)) is rebuilt from the flow: IP header and transport header.
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Icmp;

/// <summary>Sending ICMP errors about a flow whose packet is no longer held.</summary>
public static class IcmpFlowError
{
    /// <summary>
    /// Sends <paramref name="kind"/> (destination, host, network or port unreachable, administratively prohibited) to
    /// <paramref name="source"/> about a packet it sent to <paramref name="destination"/> whose transport header began
    /// with <paramref name="transportHeader"/>; the error comes from <paramref name="destination"/> as the quote's
    /// addressee (a spoofing NIC sends it from a non-local address). Rate limits and RFC 1122 §3.2.2's suppression
    /// rules apply as for any error. Returns false when the arguments cannot make a quote.
    /// </summary>
    public static bool Send(NetworkStack stack, NetAddress source, NetAddress destination, IpProtocol protocol, ReadOnlySpan<byte> transportHeader, IcmpErrorKind kind)
    {
        ArgumentNullException.ThrowIfNull(stack);
        if (source.IsNone || source.IsV4 != destination.IsV4 || transportHeader.Length is < 8 or > 60)
        {
            return false;
        }
        PacketBuffer quote = Build(stack.Pool, source, destination, protocol, transportHeader);
        try
        {
            stack.Icmp.SendErrorAbout(quote, kind, 0);
        }
        finally
        {
            quote.Release();
        }
        return true;
    }

    /// <summary>The start of the packet <paramref name="source"/> → <paramref name="destination"/>, as it would be quoted.</summary>
    internal static PacketBuffer Build(PacketBufferPool pool, NetAddress source, NetAddress destination, IpProtocol protocol, ReadOnlySpan<byte> transportHeader)
    {
        int ipLength = source.IsV4 ? Ipv4Header.MinLength : Ipv6Repr.BufferLength;
        PacketBuffer packet = pool.Rent(ipLength + transportHeader.Length, 0);
        Span<byte> bytes = packet.Append(ipLength + transportHeader.Length);
        if (source.IsV4)
        {
            new Ipv4Repr { Source = source.V4, Destination = destination.V4, Protocol = protocol, TimeToLive = 64, DontFragment = true, PayloadLength = transportHeader.Length }.Emit(bytes);
        }
        else
        {
            new Ipv6Repr { Source = source.Value, Destination = destination.Value, NextHeader = protocol, HopLimit = 64, PayloadLength = transportHeader.Length }.Emit(bytes);
        }
        transportHeader.CopyTo(bytes[ipLength..]);
        packet.NetworkProtocol = source.IsV4 ? NetworkProtocol.IPv4 : NetworkProtocol.IPv6;
        return packet;
    }
}
