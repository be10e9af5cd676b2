// Whole valid packets: an IPv4 header (with or without options) or an IPv6 header (with or without hop-by-hop and
// destination options headers) around a TCP segment with options, a UDP datagram or an ICMP message, every
// checksum right. Built with the wire reprs, so a parser under test sees what a conforming sender writes.
using FsCheck;
using FsCheck.Fluent;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>A generated packet: raw IP bytes and what it is.</summary>
/// <param name="Kind">Short description: version, extension headers or options, transport.</param>
/// <param name="Bytes">The packet, starting at the IP header.</param>
public sealed record GeneratedPacket(string Kind, byte[] Bytes)
{
    /// <summary>IP version (4 or 6).</summary>
    public int Version => Bytes[0] >> 4;

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} ({Bytes.Length} B): {Convert.ToHexString(Bytes)}";
}

/// <summary>FsCheck generators of whole, valid IP packets.</summary>
public static class PacketGenerators
{
    /// <summary>The transports <see cref="Transport"/> can put in a packet.</summary>
    public enum TransportKind
    {
        /// <summary>A TCP segment with any options the repr supports.</summary>
        Tcp,
        /// <summary>A UDP datagram.</summary>
        Udp,
        /// <summary>ICMPv4 (over IPv4) or ICMPv6 (over IPv6).</summary>
        Icmp,
    }

    /// <summary>Any valid packet: IPv4 or IPv6, any transport, payload up to <paramref name="maxPayload"/> bytes.</summary>
    public static Gen<GeneratedPacket> Any(int maxPayload = 256) =>
        Gen.OneOf(Ipv4(null, maxPayload), Ipv6(null, maxPayload));

    /// <summary>A valid IPv4 packet (options one time in three, never a fragment) around <paramref name="transport"/> (any when null).</summary>
    public static Gen<GeneratedPacket> Ipv4(TransportKind? transport = null, int maxPayload = 256) =>
        from kind in transport is { } t ? Gen.Constant(t) : Gen.Elements(TransportKind.Tcp, TransportKind.Udp, TransportKind.Icmp)
        from source in IpGenerators.UInt32
        from destination in IpGenerators.UInt32
        from ttl in Gen.Choose(1, 255)
        from tos in Gen.Choose(0, 255)
        from id in Gen.Choose(0, 0xFFFF)
        from df in Gen.Elements(true, false)
        from options in Gen.Frequency((2, Gen.Constant(Array.Empty<byte>())), (1, IpGenerators.Ipv4Options))
        from body in Transport(kind, v6: false, maxPayload)
        select BuildIpv4(kind, source, destination, (byte)ttl, (byte)tos, (ushort)id, df, options, body);

    /// <summary>A valid IPv6 packet (hop-by-hop and destination options headers, each one time in three) around <paramref name="transport"/>.</summary>
    public static Gen<GeneratedPacket> Ipv6(TransportKind? transport = null, int maxPayload = 256) =>
        from kind in transport is { } t ? Gen.Constant(t) : Gen.Elements(TransportKind.Tcp, TransportKind.Udp, TransportKind.Icmp)
        from repr in IpGenerators.Ipv6Repr
        from hopLimit in Gen.Choose(1, 255)
        from hopByHop in Gen.Frequency((2, Gen.Constant<byte[]?>(null)), (1, IpGenerators.ShortIpv6Options.Select(o => (byte[]?)o)))
        from destinationOptions in Gen.Frequency((2, Gen.Constant<byte[]?>(null)), (1, IpGenerators.Ipv6Options.Select(o => (byte[]?)o)))
        from body in Transport(kind, v6: true, maxPayload)
        select BuildIpv6(kind, repr with { HopLimit = (byte)hopLimit }, hopByHop, destinationOptions, body);

    /// <summary>
    /// The transport bytes before the checksum: a TCP header with options (<see cref="TransportGenerators.TcpReprGen"/>),
    /// a UDP header, or an ICMP message of a supported type, followed by 0..<paramref name="maxPayload"/> bytes.
    /// </summary>
    public static Gen<byte[]> Transport(TransportKind kind, bool v6, int maxPayload = 256) => kind switch
    {
        TransportKind.Tcp =>
            from tcp in TransportGenerators.TcpReprGen
            from payload in IpGenerators.Bytes(0, maxPayload)
            select Concat(tcp.BufferLength, tcp.Emit, payload),
        TransportKind.Udp =>
            from ports in Gen.Zip(TransportGenerators.UInt16Gen, TransportGenerators.UInt16Gen)
            from payload in IpGenerators.Bytes(0, maxPayload)
            let udp = new UdpRepr { SourcePort = ports.Item1, DestinationPort = ports.Item2, PayloadLength = payload.Length }
            select Concat(udp.BufferLength, udp.Emit, payload),
        _ when v6 =>
            from icmp in TransportGenerators.IcmpV6ReprGen
            from payload in IpGenerators.Bytes(0, maxPayload)
            select Concat(icmp.BufferLength, icmp.Emit, payload),
        _ =>
            from icmp in TransportGenerators.IcmpV4ReprGen
            from payload in IpGenerators.Bytes(0, maxPayload)
            select Concat(icmp.BufferLength, icmp.Emit, payload),
    };

    /// <summary>
    /// Builds an IPv4 packet around <paramref name="transport"/> of protocol <paramref name="protocol"/>, with
    /// fresh header and transport checksums.
    /// </summary>
    public static byte[] Ipv4Packet(IpProtocol protocol, uint source, uint destination, ReadOnlySpan<byte> transport,
        byte ttl = 64, byte tos = 0, ushort identification = 0, bool dontFragment = true, ReadOnlySpan<byte> options = default)
    {
        var repr = new Ipv4Repr
        {
            Source = source,
            Destination = destination,
            Protocol = protocol,
            TimeToLive = ttl,
            Dscp = (byte)(tos >> 2),
            Ecn = (byte)(tos & 3),
            Identification = identification,
            DontFragment = dontFragment,
            PayloadLength = transport.Length,
        };
        repr.SetOptions(options);
        var packet = new byte[repr.HeaderLength + transport.Length];
        repr.Emit(packet);
        transport.CopyTo(packet.AsSpan(repr.HeaderLength));
        PacketChecksums.Fix(packet);
        return packet;
    }

    /// <summary>
    /// Builds an IPv6 packet: fixed header, then <paramref name="extensions"/> (already linked, the first byte of the last
    /// one is set to <paramref name="protocol"/>), then <paramref name="transport"/>, with a fresh transport checksum.
    /// </summary>
    public static byte[] Ipv6Packet(IpProtocol protocol, Ipv6Repr header, IReadOnlyList<(IpProtocol Type, byte[] Bytes)> extensions, ReadOnlySpan<byte> transport)
    {
        ArgumentNullException.ThrowIfNull(extensions);
        int extensionLength = extensions.Sum(e => e.Bytes.Length);
        var packet = new byte[Ipv6Repr.BufferLength + extensionLength + transport.Length];
        (header with
        {
            PayloadLength = extensionLength + transport.Length,
            NextHeader = extensions.Count > 0 ? extensions[0].Type : protocol,
        }).Emit(packet);
        int offset = Ipv6Repr.BufferLength;
        for (int i = 0; i < extensions.Count; i++)
        {
            extensions[i].Bytes.CopyTo(packet, offset);
            packet[offset] = (byte)(i + 1 < extensions.Count ? extensions[i + 1].Type : protocol);
            offset += extensions[i].Bytes.Length;
        }
        transport.CopyTo(packet.AsSpan(offset));
        PacketChecksums.Fix(packet);
        return packet;
    }

    /// <summary>An IPv6 options header (hop-by-hop or destination options, RFC 8200 §4.3/§4.6) holding <paramref name="options"/>, padded to 8 bytes.</summary>
    public static (IpProtocol Type, byte[] Bytes) OptionsHeader(IpProtocol type, ReadOnlySpan<byte> options)
    {
        var bytes = new byte[Ipv6OptionsHeader.GetLength(options.Length)];
        Ipv6OptionsHeader.Emit(bytes, IpProtocol.Ipv6NoNext, options);
        return (type, bytes);
    }

    private static IpProtocol ProtocolOf(TransportKind kind, bool v6) => kind switch
    {
        TransportKind.Tcp => IpProtocol.Tcp,
        TransportKind.Udp => IpProtocol.Udp,
        _ => v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp,
    };

    private static GeneratedPacket BuildIpv4(TransportKind kind, uint source, uint destination, byte ttl, byte tos, ushort id, bool df, byte[] options, byte[] body) =>
        new($"ipv4{(options.Length > 0 ? "+options" : "")}/{kind}".ToLowerInvariant(),
            Ipv4Packet(ProtocolOf(kind, false), source, destination, body, ttl, tos, id, df, options));

    private static GeneratedPacket BuildIpv6(TransportKind kind, Ipv6Repr repr, byte[]? hopByHop, byte[]? destinationOptions, byte[] body)
    {
        var extensions = new List<(IpProtocol, byte[])>();
        if (hopByHop is not null)
        {
            extensions.Add(OptionsHeader(IpProtocol.HopByHop, hopByHop));
        }
        if (destinationOptions is not null)
        {
            extensions.Add(OptionsHeader(IpProtocol.Ipv6DestinationOptions, destinationOptions));
        }
        string chain = (hopByHop is null ? "" : "+hbh") + (destinationOptions is null ? "" : "+dstopts");
        return new($"ipv6{chain}/{kind}".ToLowerInvariant(), Ipv6Packet(ProtocolOf(kind, true), repr, extensions, body));
    }

    private delegate void EmitAction(Span<byte> buffer);

    private static byte[] Concat(int headerLength, EmitAction emit, byte[] payload)
    {
        var bytes = new byte[headerLength + payload.Length];
        emit(bytes);
        payload.CopyTo(bytes, headerLength);
        return bytes;
    }
}
