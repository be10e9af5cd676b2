// FsCheck generators and byte builders shared by the IPv4 and IPv6 wire tests.
using FsCheck;
using FsCheck.Fluent;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>An IPv4 header repr and the payload that goes after it.</summary>
public sealed record Ipv4Sample(Ipv4Repr Repr, byte[] Payload)
{
    /// <summary>The packet bytes: emitted header, then payload.</summary>
    public byte[] Build()
    {
        var packet = new byte[Repr.BufferLength + Payload.Length];
        Repr.Emit(packet);
        Payload.CopyTo(packet.AsSpan(Repr.BufferLength));
        return packet;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Repr} options={Convert.ToHexString(Repr.Options)} payload={Payload.Length}";
}

/// <summary>One extension header of a generated chain.</summary>
public sealed record Ipv6ExtensionSpec(IpProtocol Type, byte[] Bytes);

/// <summary>
/// A generated IPv6 packet: fixed header repr, a chain of extension headers (next-header values linked),
/// an upper-layer protocol and its bytes.
/// </summary>
public sealed record Ipv6Sample(Ipv6Repr Repr, Ipv6ExtensionSpec[] Extensions, IpProtocol UpperLayer, byte[] UpperLayerBytes)
{
    /// <summary>Length of all extension headers.</summary>
    public int ExtensionLength => Extensions.Sum(e => e.Bytes.Length);

    /// <summary>The packet bytes with the fixed header's payload length and next header filled in.</summary>
    public byte[] Build()
    {
        var packet = new byte[Ipv6Repr.BufferLength + ExtensionLength + UpperLayerBytes.Length];
        Ipv6Repr repr = Repr with
        {
            PayloadLength = packet.Length - Ipv6Repr.BufferLength,
            NextHeader = Extensions.Length > 0 ? Extensions[0].Type : UpperLayer,
        };
        repr.Emit(packet);
        int offset = Ipv6Repr.BufferLength;
        foreach (Ipv6ExtensionSpec extension in Extensions)
        {
            extension.Bytes.CopyTo(packet, offset);
            offset += extension.Bytes.Length;
        }
        UpperLayerBytes.CopyTo(packet, offset);
        return packet;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Repr} chain=[{string.Join(",", Extensions.Select(e => $"{e.Type}:{Convert.ToHexString(e.Bytes)}"))}] upper={UpperLayer}/{UpperLayerBytes.Length}";
}

/// <summary>Generators for IP headers, option lists, extension-header chains and junk bytes.</summary>
public static class IpGenerators
{
    /// <summary>Any byte.</summary>
    public static Gen<byte> Byte => Gen.Choose(0, 255).Select(b => (byte)b);

    /// <summary>An array of <paramref name="min"/>..<paramref name="max"/> random bytes.</summary>
    public static Gen<byte[]> Bytes(int min, int max) =>
        Gen.Choose(min, max).SelectMany(n => Gen.ArrayOf(Byte, n));

    /// <summary>Any 32-bit value (Gen.Choose is limited to int ranges, so glue two halves).</summary>
    public static Gen<uint> UInt32 => Gen.Zip(Gen.Choose(0, 0xFFFF), Gen.Choose(0, 0xFFFF)).Select(t => ((uint)t.Item1 << 16) | (uint)t.Item2);

    /// <summary>Any 128-bit value.</summary>
    public static Gen<UInt128> UInt128Value => Gen.Zip(Gen.Zip(UInt32, UInt32), Gen.Zip(UInt32, UInt32)).Select(t =>
        new UInt128(((ulong)t.Item1.Item1 << 32) | t.Item1.Item2, ((ulong)t.Item2.Item1 << 32) | t.Item2.Item2));

    /// <summary>Well-formed IPv4 options (NOP, TLVs of any type), EOL-padded to a multiple of 4, at most 40 bytes.</summary>
    public static Gen<byte[]> Ipv4Options =>
        Gen.ListOf(Gen.OneOf(
                Gen.Constant(new byte[] { Ipv4Option.NoOperation }),
                Gen.Zip(Gen.Choose(2, 255).Where(t => t != Ipv4Option.NoOperation), Bytes(0, 8))
                    .Select(t => new byte[] { (byte)t.Item1, (byte)(t.Item2.Length + 2) }.Concat(t.Item2).ToArray())))
            .Select(options =>
            {
                var bytes = new List<byte>();
                foreach (byte[] option in options)
                {
                    if (bytes.Count + option.Length > Ipv4Header.MaxOptionsLength)
                    {
                        break;
                    }
                    bytes.AddRange(option);
                }
                while (bytes.Count % 4 != 0)
                {
                    bytes.Add(Ipv4Option.EndOfList);
                }
                return bytes.ToArray();
            });

    /// <summary>Any IPv4 repr (options included), with a payload of 0..64 random bytes.</summary>
    public static Gen<Ipv4Sample> Ipv4Sample(Gen<IpProtocol>? protocols = null) =>
        from source in UInt32
        from destination in UInt32
        from protocol in protocols ?? Byte.Select(b => (IpProtocol)b)
        from ttl in Byte
        from dscp in Gen.Choose(0, 63)
        from ecn in Gen.Choose(0, 3)
        from id in Gen.Choose(0, 0xFFFF)
        from df in Gen.Elements(true, false)
        from mf in Gen.Elements(true, false)
        from offset in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(0, 0x1FFF).Select(o => o * 8)))
        from options in Gen.Frequency((2, Gen.Constant(Array.Empty<byte>())), (1, Ipv4Options))
        from payload in Bytes(0, 64)
        select new Ipv4Sample(MakeIpv4Repr(source, destination, protocol, ttl, dscp, ecn, id, df, mf, offset, options, payload.Length), payload);

    private static Ipv4Repr MakeIpv4Repr(uint source, uint destination, IpProtocol protocol, byte ttl, int dscp, int ecn, int id,
        bool df, bool mf, int offset, byte[] options, int payloadLength)
    {
        var repr = new Ipv4Repr
        {
            Source = source,
            Destination = destination,
            Protocol = protocol,
            TimeToLive = ttl,
            Dscp = (byte)dscp,
            Ecn = (byte)ecn,
            Identification = (ushort)id,
            DontFragment = df,
            MoreFragments = mf,
            FragmentOffset = offset,
            PayloadLength = payloadLength,
        };
        repr.SetOptions(options);
        return repr;
    }

    /// <summary>Any IPv6 fixed-header repr (payload length and next header are set by <see cref="Ipv6Sample.Build"/>).</summary>
    public static Gen<Ipv6Repr> Ipv6Repr =>
        from trafficClass in Byte
        from flowLabel in Gen.Choose(0, 0xFFFFF)
        from hopLimit in Byte
        from source in UInt128Value
        from destination in UInt128Value
        select new Ipv6Repr
        {
            TrafficClass = trafficClass,
            FlowLabel = (uint)flowLabel,
            HopLimit = hopLimit,
            Source = source,
            Destination = destination,
        };

    /// <summary>Well-formed IPv6 TLV options: Pad1, PadN, and options of other types (not Jumbo Payload) with 0..12 data bytes.</summary>
    public static Gen<byte[]> Ipv6Options =>
        Gen.ListOf(Gen.OneOf(
                Gen.Constant(new byte[] { Ipv6Option.Pad1 }),
                Gen.Choose(0, 5).Select(n => new byte[] { Ipv6Option.PadN, (byte)n }.Concat(new byte[n]).ToArray()),
                Gen.Zip(Gen.Choose(2, 255).Where(t => t != Ipv6Option.JumboPayload), Bytes(0, 12))
                    .Select(t => new byte[] { (byte)t.Item1, (byte)t.Item2.Length }.Concat(t.Item2).ToArray())))
            .Select(options => options.SelectMany(o => o).ToArray());

    /// <summary>At most 6 bytes of well-formed options: the header then fits in 8 bytes.</summary>
    public static Gen<byte[]> ShortIpv6Options =>
        Gen.OneOf(
            Gen.Constant(Array.Empty<byte>()),
            Gen.Choose(1, 6).Select(n => new byte[n]), // Pad1s
            Gen.Zip(Gen.Choose(2, 255).Where(t => t != Ipv6Option.JumboPayload), Bytes(0, 4))
                .Select(t => new byte[] { (byte)t.Item1, (byte)t.Item2.Length }.Concat(t.Item2).ToArray()));

    private static Gen<Ipv6ExtensionSpec> Extension(IpProtocol type, IpProtocol next, bool last, bool shortHeaders) => type switch
    {
        IpProtocol.HopByHop or IpProtocol.Ipv6DestinationOptions => (shortHeaders ? ShortIpv6Options : Ipv6Options).Select(options =>
        {
            var bytes = new byte[Ipv6OptionsHeader.GetLength(options.Length)];
            Ipv6OptionsHeader.Emit(bytes, next, options);
            return new Ipv6ExtensionSpec(type, bytes);
        }),
        IpProtocol.Ipv6Route =>
            from routingType in Byte
            from segmentsLeft in Byte
            from data in Bytes(0, shortHeaders ? 4 : 40)
            select MakeRouting(next, routingType, segmentsLeft, data),
        IpProtocol.Ipv6Fragment =>
            from offset in last ? Gen.Choose(0, 0x1FFF).Select(o => o * 8) : Gen.Constant(0)
            from more in Gen.Elements(true, false)
            from id in UInt32
            select MakeFragment(next, offset, more, id),
        IpProtocol.Ah =>
            from words in Gen.Elements(2, 4, 6)
            from rest in Gen.ArrayOf(Byte, ((words + 2) * 4) - 2)
            select new Ipv6ExtensionSpec(type, new byte[] { (byte)next, (byte)words }.Concat(rest).ToArray()),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    private static Ipv6ExtensionSpec MakeRouting(IpProtocol next, byte routingType, byte segmentsLeft, byte[] data)
    {
        var bytes = new byte[Ipv6RoutingHeader.GetLength(data.Length)];
        Ipv6RoutingHeader.Emit(bytes, next, routingType, segmentsLeft, data);
        return new Ipv6ExtensionSpec(IpProtocol.Ipv6Route, bytes);
    }

    private static Ipv6ExtensionSpec MakeFragment(IpProtocol next, int offset, bool more, uint id)
    {
        var bytes = new byte[Ipv6FragmentRepr.BufferLength];
        new Ipv6FragmentRepr { NextHeader = next, FragmentOffset = offset, MoreFragments = more, Identification = id }.Emit(bytes);
        return new Ipv6ExtensionSpec(IpProtocol.Ipv6Fragment, bytes);
    }

    /// <summary>
    /// An IPv6 packet with a valid chain: an optional hop-by-hop header first, then up to five routing,
    /// fragment (non-zero offsets only when last), destination options or AH headers
    /// (<paramref name="withAh"/>), then an upper layer of 0..32 bytes. With <paramref name="shortHeaders"/>
    /// every extension header is 8 bytes long (AH excepted).
    /// </summary>
    public static Gen<Ipv6Sample> Ipv6Sample(bool withAh = true, bool shortHeaders = false)
    {
        IpProtocol[] middle = withAh
            ? [IpProtocol.Ipv6Route, IpProtocol.Ipv6Fragment, IpProtocol.Ipv6DestinationOptions, IpProtocol.Ah]
            : [IpProtocol.Ipv6Route, IpProtocol.Ipv6Fragment, IpProtocol.Ipv6DestinationOptions];
        return from repr in Ipv6Repr
               from hopByHop in Gen.Elements(true, false)
               from count in Gen.Choose(0, 5)
               from rest in Gen.ArrayOf(Gen.Elements(middle), count)
               from upper in Gen.Elements(IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.IcmpV6, IpProtocol.Ipv6NoNext, (IpProtocol)253)
               let types = (hopByHop ? new[] { IpProtocol.HopByHop } : []).Concat(rest).ToArray()
               from extensions in Gen.CollectToArray(Enumerable.Range(0, types.Length),
                   i => Extension(types[i], i + 1 < types.Length ? types[i + 1] : upper, i + 1 == types.Length, shortHeaders))
               from upperBytes in Bytes(0, 32)
               select new Ipv6Sample(repr, extensions, upper, upperBytes);
    }
}
