// Round-trip and robustness properties for the IPv4 view, repr and option reader.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class Ipv4PropertyTests
{
    private static readonly Arbitrary<Ipv4Sample> Samples = Arb.From(IpGenerators.Ipv4Sample());

    [Property(MaxTest = 300)]
    public Property Repr_EmitThenParse_GivesTheSameReprAndPayload() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out WireError error), error.ToString());
        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr parsed, out error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(sample.Repr, parsed);
        Assert.Equal(sample.Payload, ip.Payload.ToArray());
        Assert.True(ip.VerifyChecksum());
        Assert.True(ip.ValidateOptions(out _));
    });

    [Property(MaxTest = 300)]
    public Property EmitParseEmit_GivesIdenticalBytes() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        Assert.True(Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _));
        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr parsed, out _));
        var again = new byte[parsed.BufferLength];
        parsed.Emit(again);
        Assert.Equal(packet.AsSpan(0, sample.Repr.BufferLength).ToArray(), again);
    });

    [Property(MaxTest = 300)]
    public Property Emit_IntoA5FilledBuffer_WritesEveryByte() => Prop.ForAll(Samples, sample =>
    {
        int length = sample.Repr.BufferLength;
        var dirty = new byte[length + 8];
        dirty.AsSpan().Fill(0xA5);
        var clean = new byte[length];
        sample.Repr.Emit(dirty);
        sample.Repr.Emit(clean);
        Assert.Equal(clean, dirty.AsSpan(0, length).ToArray());
        Assert.All(dirty.AsSpan(length).ToArray(), b => Assert.Equal(0xA5, b)); // nothing written past BufferLength
    });

    [Property(MaxTest = 200)]
    public Property Setters_ThenRecomputeChecksum_MatchEmitOfChangedRepr() => Prop.ForAll(
        Arb.From(Gen.Zip(IpGenerators.Ipv4Sample(), IpGenerators.Ipv4Sample())), pair =>
    {
        (Ipv4Sample first, Ipv4Sample second) = pair;
        Ipv4Repr changed = first.Repr with
        {
            PayloadLength = second.Repr.PayloadLength,
            Identification = second.Repr.Identification,
            DontFragment = second.Repr.DontFragment,
            MoreFragments = second.Repr.MoreFragments,
            FragmentOffset = second.Repr.FragmentOffset,
        };
        var header = new byte[first.Repr.BufferLength];
        first.Repr.Emit(header);
        Ipv4Header.SetTotalLength(header, (ushort)changed.TotalLength);
        Ipv4Header.SetIdentification(header, changed.Identification);
        Ipv4Header.SetFragment(header, changed.DontFragment, changed.MoreFragments, changed.FragmentOffset);
        Ipv4Header.RecomputeChecksum(header);
        var expected = new byte[changed.BufferLength];
        changed.Emit(expected);
        Assert.Equal(expected, header);
    });

    [Property(MaxTest = 100)]
    public Property EveryPrefix_FailsBelowTotalLengthAndNeverThrows() => Prop.ForAll(Samples, sample =>
    {
        byte[] packet = sample.Build();
        for (int length = 0; length <= packet.Length; length++)
        {
            bool ok = Ipv4Header.TryCreate(packet.AsSpan(0, length), out Ipv4Header ip, out WireError error);
            Assert.Equal(length == packet.Length, ok);
            Assert.Equal(ok, error == WireError.None);
            if (!ok)
            {
                Assert.Equal(length < sample.Repr.HeaderLength && length >= Ipv4Header.MinLength ? WireError.BadHeaderLength : WireError.Truncated, error);
            }
            Exercise(packet.AsSpan(0, length));
        }
    });

    [Property(MaxTest = 500)]
    public Property RandomBytes_NeverThrow() => Prop.ForAll(
        Arb.From(Gen.Zip(IpGenerators.Bytes(0, 90), Gen.Elements(true, false))), input =>
    {
        (byte[] bytes, bool forceVersion) = input;
        if (forceVersion && bytes.Length > 0)
        {
            bytes[0] = (byte)(0x40 | (bytes[0] & 0x0F)); // get past the version check more often
        }
        Exercise(bytes);
        Assert.True(Ipv4OptionReader.Validate(bytes, out WireError error) || error == WireError.BadOption);
    });

    [Property(MaxTest = 500)]
    public Property CorruptedPackets_NeverThrow() => Prop.ForAll(
        Arb.From(Gen.Zip(IpGenerators.Ipv4Sample(), Gen.ListOf(Gen.Zip(Gen.Choose(0, 1000), IpGenerators.Byte)))), input =>
    {
        byte[] packet = input.Item1.Build();
        foreach ((int position, byte value) in input.Item2)
        {
            packet[position % packet.Length] = value;
        }
        Exercise(packet);
    });

    /// <summary>Runs every parser and accessor on <paramref name="bytes"/>; an exception fails the property.</summary>
    internal static void Exercise(ReadOnlySpan<byte> bytes)
    {
        if (!Ipv4Header.TryCreate(bytes, out Ipv4Header ip, out WireError error))
        {
            Assert.NotEqual(WireError.None, error);
            return;
        }
        Assert.True(ip.HeaderLength >= Ipv4Header.MinLength && ip.HeaderLength <= ip.TotalLength && ip.TotalLength <= bytes.Length);
        _ = ip.Version + ip.Dscp + ip.Ecn + ip.Identification + ip.FragmentOffset + ip.TimeToLive + (int)ip.Protocol + ip.Checksum;
        _ = ip.ReservedFlag | ip.DontFragment | ip.MoreFragments | ip.IsFragment | ip.VerifyChecksum();
        _ = ip.Source ^ ip.Destination;
        Assert.Equal(4, ip.SourceAddress.Length);
        Assert.Equal(4, ip.DestinationAddress.Length);
        Assert.Equal(ip.TotalLength, ip.Header.Length + ip.Payload.Length);
        Assert.Equal(ip.HeaderLength - Ipv4Header.MinLength, ip.Options.Length);
        bool valid = ip.ValidateOptions(out WireError optionError);
        Assert.Equal(valid, optionError == WireError.None);
        Ipv4OptionReader reader = ip.GetOptions();
        int walked = 0;
        while (reader.MoveNext())
        {
            walked += reader.Current.Length;
            _ = reader.Current.Data.Length + reader.Current.Class + reader.Current.Number;
        }
        Assert.True(walked <= ip.Options.Length);
        Assert.Equal(optionError, reader.Error);
        Assert.True(Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _));
        var emitted = new byte[repr.BufferLength];
        repr.Emit(emitted);
        Assert.Equal(ip.HeaderLength, emitted.Length);
    }
}
