// Round-trip and robustness properties for the IPv6 view, reprs, extension headers and chain walker.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class Ipv6PropertyTests
{
    private static readonly Arbitrary<Ipv6Sample> Samples = Arb.From(IpGenerators.Ipv6Sample());

    [Property(MaxTest = 300)]
    public Property Repr_EmitThenParse_GivesTheSameReprAndBytes() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        Assert.True(Ipv6Header.TryCreate(packet, out Ipv6Header ip, out WireError error), error.ToString());
        Assert.True(Ipv6Repr.TryParse(ip, out Ipv6Repr parsed, out error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(sample.Repr with { PayloadLength = packet.Length - 40, NextHeader = ip.NextHeader }, parsed);

        var dirty = new byte[Ipv6Repr.BufferLength + 4];
        dirty.AsSpan().Fill(0xA5);
        parsed.Emit(dirty);
        Assert.Equal(packet.AsSpan(0, 40).ToArray(), dirty.AsSpan(0, 40).ToArray());
        Assert.Equal(new byte[] { 0xA5, 0xA5, 0xA5, 0xA5 }, dirty.AsSpan(40).ToArray());
    });

    [Property(MaxTest = 300)]
    public Property Walker_FindsEveryHeaderAndTheUpperLayer() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        Assert.True(Ipv6Header.TryCreate(packet, out Ipv6Header ip, out _));
        var walker = new Ipv6ExtensionWalker(ip);
        int index = 0;
        int offset = 0;
        while (walker.MoveNext())
        {
            Ipv6ExtensionSpec spec = sample.Extensions[index++];
            Assert.Equal(spec.Type, walker.Current.Type);
            Assert.Equal(offset, walker.Current.Offset);
            Assert.Equal(spec.Bytes, walker.Current.Bytes.ToArray());
            offset += spec.Bytes.Length;
        }
        Assert.Equal(WireError.None, walker.Error);
        Assert.Equal(sample.Extensions.Length, index);

        Assert.True(Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out WireError error), error.ToString());
        Assert.Equal(sample.UpperLayer, chain.UpperLayerProtocol);
        Assert.Equal(sample.ExtensionLength, chain.UpperLayerOffset);
        Assert.Equal(sample.Extensions.Length, chain.HeaderCount);
        Assert.Equal(sample.UpperLayerBytes, ip.Payload[chain.UpperLayerOffset..].ToArray());
        Assert.Equal(sample.Extensions.Any(e => e.Type == IpProtocol.HopByHop), chain.HasHopByHop);
        Assert.Equal(sample.Extensions.Any(e => e.Type == IpProtocol.Ipv6Route), chain.HasRoutingHeader);
        Ipv6ExtensionSpec? fragment = sample.Extensions.LastOrDefault(e => e.Type == IpProtocol.Ipv6Fragment);
        Assert.Equal(fragment is not null, chain.HasFragmentHeader);
        if (fragment is not null)
        {
            Assert.True(Ipv6FragmentHeader.TryCreate(fragment.Bytes, out Ipv6FragmentHeader view, out _));
            Assert.Equal(view.FragmentOffset, chain.FragmentOffset);
            Assert.Equal(view.MoreFragments, chain.MoreFragments);
            Assert.Equal(view.Identification, chain.FragmentIdentification);
            Assert.Equal(view.NextHeader, chain.FragmentNextHeader);
        }
    });

    private static readonly Gen<(IpProtocol Next, byte[] Options)> OptionsHeaders =
        Gen.Zip(IpGenerators.Byte.Select(b => (IpProtocol)b), IpGenerators.Ipv6Options);

    [Property(MaxTest = 300)]
    public Property OptionsHeader_EmitThenWalk_GivesTheOptionsBackPaddedToEight() => Prop.ForAll(Arb.From(OptionsHeaders), input =>
    {
        (IpProtocol next, byte[] options) = input;
        int length = Ipv6OptionsHeader.GetLength(options.Length);
        Assert.Equal(0, length % 8);
        var dirty = new byte[length];
        dirty.AsSpan().Fill(0xA5);
        var clean = new byte[length];
        Ipv6OptionsHeader.Emit(dirty, next, options);
        Ipv6OptionsHeader.Emit(clean, next, options);
        Assert.Equal(clean, dirty);

        Assert.True(Ipv6OptionsHeader.TryCreate(dirty, out Ipv6OptionsHeader header, out _));
        Assert.Equal(next, header.NextHeader);
        Assert.Equal(length, header.Length);
        Assert.Equal(options, header.Options[..options.Length].ToArray());
        Assert.True(header.ValidateOptions(out _));
        // Walking yields the generated options, then at most one padding option that ends exactly at the end.
        Ipv6OptionReader reader = header.GetOptions();
        int walked = 0;
        while (reader.MoveNext())
        {
            walked += reader.Current.Length;
            if (walked > options.Length)
            {
                Assert.True(reader.Current.IsPadding);
            }
        }
        Assert.Equal(header.Options.Length, walked);
    });

    private static readonly Gen<(byte Type, byte Left, byte[] Data)> RoutingHeaders =
        from type in IpGenerators.Byte
        from left in IpGenerators.Byte
        from data in IpGenerators.Bytes(0, 64)
        select (type, left, data);

    [Property(MaxTest = 200)]
    public Property RoutingHeader_EmitThenParse_RoundTrips() => Prop.ForAll(Arb.From(RoutingHeaders), input =>
    {
        int length = Ipv6RoutingHeader.GetLength(input.Data.Length);
        var dirty = new byte[length];
        dirty.AsSpan().Fill(0xA5);
        Ipv6RoutingHeader.Emit(dirty, IpProtocol.Tcp, input.Type, input.Left, input.Data);
        var clean = new byte[length];
        Ipv6RoutingHeader.Emit(clean, IpProtocol.Tcp, input.Type, input.Left, input.Data);
        Assert.Equal(clean, dirty);
        Assert.True(Ipv6RoutingHeader.TryCreate(dirty, out Ipv6RoutingHeader header, out _));
        Assert.Equal(input.Type, header.RoutingType);
        Assert.Equal(input.Left, header.SegmentsLeft);
        Assert.Equal(input.Data, header.Data[..input.Data.Length].ToArray());
        Assert.All(header.Data[input.Data.Length..].ToArray(), b => Assert.Equal(0, b));
    });

    private static readonly Gen<Ipv6FragmentRepr> FragmentReprs =
        from next in IpGenerators.Byte
        from offset in Gen.Choose(0, 0x1FFF)
        from more in Gen.Elements(true, false)
        from id in IpGenerators.UInt32
        select new Ipv6FragmentRepr { NextHeader = (IpProtocol)next, FragmentOffset = offset * 8, MoreFragments = more, Identification = id };

    [Property(MaxTest = 200)]
    public Property FragmentRepr_EmitParseEmit_RoundTrips() => Prop.ForAll(Arb.From(FragmentReprs), repr =>
    {
        var dirty = new byte[Ipv6FragmentRepr.BufferLength];
        dirty.AsSpan().Fill(0xA5);
        repr.Emit(dirty);
        var clean = new byte[Ipv6FragmentRepr.BufferLength];
        repr.Emit(clean);
        Assert.Equal(clean, dirty);
        Assert.True(Ipv6FragmentHeader.TryCreate(dirty, out Ipv6FragmentHeader header, out _));
        Assert.True(Ipv6FragmentRepr.TryParse(header, out Ipv6FragmentRepr parsed, out _));
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.FragmentOffset == 0 && !repr.MoreFragments, header.IsAtomic);

        Ipv6FragmentHeader.SetFragment(clean, 0, false);
        Ipv6FragmentHeader.SetFragment(clean, repr.FragmentOffset, repr.MoreFragments);
        Assert.Equal(dirty, clean);
    });

    [Property(MaxTest = 100)]
    public Property EveryPrefix_NeverThrows() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        for (int length = 0; length <= packet.Length; length++)
        {
            bool ok = Ipv6Header.TryCreate(packet.AsSpan(0, length), out _, out WireError error);
            Assert.Equal(length == packet.Length, ok);
            Assert.Equal(ok ? WireError.None : WireError.Truncated, error);
            Exercise(packet.AsSpan(0, length));
            // The chain alone, cut short: the walker fails cleanly or stops before the cut.
            ReadOnlySpan<byte> payload = packet.AsSpan(40, Math.Max(0, length - 40));
            IpProtocol first = (IpProtocol)packet[Ipv6Header.NextHeaderOffset];
            if (Ipv6ExtensionWalker.TryWalk(first, payload, out Ipv6ExtensionChain chain, out _))
            {
                Assert.True(chain.UpperLayerOffset <= payload.Length);
            }
        }
    });

    [Property(MaxTest = 500)]
    public Property RandomBytes_NeverThrow() => Prop.ForAll(
        Arb.From(Gen.Zip(IpGenerators.Bytes(0, 160), Gen.Elements(true, false))), input =>
    {
        (byte[] bytes, bool makeParsable) = input;
        if (makeParsable && bytes.Length >= 40)
        {
            bytes[0] = (byte)(0x60 | (bytes[0] & 0x0F));
            Ipv6Header.SetPayloadLength(bytes, (ushort)(bytes.Length - 40));
            bytes[Ipv6Header.NextHeaderOffset] = (byte)(bytes[Ipv6Header.NextHeaderOffset] % 5) switch
            {
                0 => (byte)IpProtocol.HopByHop,
                1 => (byte)IpProtocol.Ipv6Route,
                2 => (byte)IpProtocol.Ipv6Fragment,
                3 => (byte)IpProtocol.Ipv6DestinationOptions,
                _ => (byte)IpProtocol.Ah,
            };
        }
        Exercise(bytes);
        foreach (IpProtocol first in new[] { IpProtocol.HopByHop, IpProtocol.Ipv6Route, IpProtocol.Ipv6Fragment, IpProtocol.Ipv6DestinationOptions, IpProtocol.Ah })
        {
            WalkEverything(first, bytes);
        }
        ExerciseExtensionViews(bytes);
    });

    [Property(MaxTest = 500)]
    public Property CorruptedPackets_NeverThrow() => Prop.ForAll(
        Arb.From(Gen.Zip(IpGenerators.Ipv6Sample(), Gen.ListOf(Gen.Zip(Gen.Choose(0, 4000), IpGenerators.Byte)))), input =>
    {
        byte[] packet = input.Item1.Build();
        foreach ((int position, byte value) in input.Item2)
        {
            packet[position % packet.Length] = value;
        }
        Exercise(packet);
    });

    private static void Exercise(ReadOnlySpan<byte> bytes)
    {
        if (!Ipv6Header.TryCreate(bytes, out Ipv6Header ip, out WireError error))
        {
            Assert.NotEqual(WireError.None, error);
            return;
        }
        _ = ip.Version + ip.TrafficClass + ip.Dscp + ip.Ecn + ip.FlowLabel + ip.HopLimit + (int)ip.NextHeader;
        _ = ip.Source ^ ip.Destination;
        Assert.Equal(16, ip.SourceAddress.Length);
        Assert.Equal(16, ip.DestinationAddress.Length);
        Assert.Equal(ip.PayloadLength, ip.Payload.Length);
        Assert.True(Ipv6Repr.TryParse(ip, out Ipv6Repr repr, out _));
        repr.Emit(new byte[Ipv6Repr.BufferLength]);
        WalkEverything(ip.NextHeader, ip.Payload);
    }

    private static void WalkEverything(IpProtocol first, ReadOnlySpan<byte> payload)
    {
        var walker = new Ipv6ExtensionWalker(first, payload);
        while (walker.MoveNext())
        {
            Ipv6ExtensionHeader current = walker.Current;
            Assert.True(current.Offset + current.Length <= payload.Length);
            _ = current.NextHeader;
            ExerciseExtensionViews(current.Bytes);
        }
        Assert.True(walker.Count <= Ipv6ExtensionWalker.DefaultMaxHeaders);
        bool ok = Ipv6ExtensionWalker.TryWalk(first, payload, out Ipv6ExtensionChain chain, out WireError error);
        Assert.Equal(walker.Error, error);
        Assert.Equal(ok, error == WireError.None);
        if (ok)
        {
            Assert.Equal(walker.Offset, chain.UpperLayerOffset);
            Assert.Equal(walker.NextHeader, chain.UpperLayerProtocol);
            Assert.True(chain.UpperLayerOffset <= payload.Length);
        }
    }

    private static void ExerciseExtensionViews(ReadOnlySpan<byte> bytes)
    {
        if (Ipv6OptionsHeader.TryCreate(bytes, out Ipv6OptionsHeader options, out _))
        {
            _ = (int)options.NextHeader + options.HeaderExtensionLength + options.Length;
            bool valid = options.ValidateOptions(out WireError error);
            Ipv6OptionReader reader = options.GetOptions();
            while (reader.MoveNext())
            {
                _ = reader.Current.Data.Length + reader.Current.UnrecognizedAction + reader.Current.Length;
            }
            Assert.Equal(error, reader.Error);
            Assert.Equal(valid, error == WireError.None);
        }
        if (Ipv6RoutingHeader.TryCreate(bytes, out Ipv6RoutingHeader routing, out _))
        {
            _ = (int)routing.NextHeader + routing.RoutingType + routing.SegmentsLeft + routing.Data.Length;
        }
        if (Ipv6FragmentHeader.TryCreate(bytes, out Ipv6FragmentHeader fragment, out _))
        {
            _ = (int)fragment.NextHeader + fragment.FragmentOffset + fragment.ReservedBits + fragment.Reserved + fragment.Identification;
            Assert.True(Ipv6FragmentRepr.TryParse(fragment, out _, out _));
        }
        Assert.True(Ipv6OptionReader.Validate(bytes, out WireError any) || any == WireError.BadOption);
    }
}
