using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class TcpPropertyTests
{
    private static byte[] Emit(TcpRepr repr, byte fill = 0xA5)
    {
        var buffer = new byte[repr.BufferLength];
        buffer.AsSpan().Fill(fill);
        repr.Emit(buffer);
        return buffer;
    }

    [Property(MaxTest = 500, Arbitrary = [typeof(TransportGenerators)])]
    public void Repr_Emit_Parse_IsIdentity(TcpRepr repr)
    {
        byte[] bytes = Emit(repr);
        Assert.True(bytes.Length % 4 == 0 && bytes.Length <= TcpHeader.MaxLength);
        Assert.True(TcpHeader.TryCreate(bytes, out var header, out var error), error.ToString());
        Assert.Equal(bytes.Length, header.HeaderLength);
        Assert.True(TcpRepr.TryParse(header, out var parsed, out error), error.ToString());
        Assert.Equal(repr, parsed);
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Emit_Parse_Emit_IsByteIdentical(TcpRepr repr)
    {
        byte[] first = Emit(repr);
        Assert.True(TcpHeader.TryCreate(first, out var header, out _));
        Assert.True(TcpRepr.TryParse(header, out var parsed, out _));
        Assert.Equal(first, Emit(parsed));
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Emit_WritesEveryByte(TcpRepr repr)
    {
        // Filled with 0xA5 or 0x00 first: a byte emit forgets differs.
        Assert.Equal(Emit(repr, 0x00), Emit(repr, 0xA5));
    }

    [Property(MaxTest = 200)]
    public Property Checksum_WholeSplitAndPartial_Agree() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.TcpReprGen, TransportGenerators.PayloadGen(300))),
        t =>
        {
            (TcpRepr repr, byte[] payload) = t;
            var segment = new byte[repr.BufferLength + payload.Length];
            repr.Emit(segment);
            payload.CopyTo(segment, repr.BufferLength);
            uint pseudo = TestIp.PseudoV4(IpProtocol.Tcp, segment.Length);
            TcpHeader.WriteChecksum(segment, pseudo);
            Assert.True(TcpHeader.VerifyChecksum(segment, pseudo));

            var header = Emit(repr);
            TcpHeader.WriteChecksum(header, pseudo, InternetChecksum.Sum(payload));
            Assert.Equal(segment.AsSpan(0, header.Length).ToArray(), header);

            // CHECKSUM_PARTIAL completed the way a device does it gives the same field.
            var partial = (byte[])segment.Clone();
            TcpHeader.WritePartialChecksum(partial, pseudo);
            TcpHeader.SetChecksum(partial, InternetChecksum.Finish(InternetChecksum.Sum(partial)));
            Assert.Equal(segment, partial);

            if (segment.Length > 0)
            {
                segment[^1] ^= 0x01;
                Assert.False(TcpHeader.VerifyChecksum(segment, pseudo));
            }
        });

    /// <summary>Touches every accessor and walks every option; must never throw.</summary>
    internal static void Exercise(ReadOnlySpan<byte> bytes)
    {
        if (!TcpHeader.TryCreate(bytes, out var header, out var error))
        {
            Assert.NotEqual(WireError.None, error);
            return;
        }
        _ = header.SourcePort + header.DestinationPort + header.SequenceNumber + header.AcknowledgmentNumber;
        _ = header.DataOffset + header.Reserved + (int)header.Flags + header.WindowSize + header.Checksum + header.UrgentPointer;
        _ = header.Options.Length + header.Payload.Length + header.Header.Length;
        _ = header.VerifyChecksum(0);
        var reader = header.GetOptions();
        while (reader.MoveNext())
        {
            TcpOption o = reader.Current;
            _ = o.MaxSegmentSize + o.WindowScale + o.WindowScaleRaw + o.TimestampValue + o.TimestampEcho + o.Data.Length;
            for (int i = 0; i < o.SackBlockCount; i++)
            {
                _ = o.GetSackBlock(i);
            }
        }
        bool parsed = TcpRepr.TryParse(header, out var repr, out error);
        Assert.Equal(parsed, error == WireError.None);
        Assert.Equal(parsed, reader.Error == WireError.None);
        if (parsed)
        {
            _ = Emit(repr);
        }
    }

    [Property(MaxTest = 1000)]
    public void RandomBytes_NeverThrow(byte[] bytes) => Exercise(bytes);

    [Property(MaxTest = 300)]
    public Property RandomOptionArea_NeverThrows() => Prop.ForAll(
        Arb.From(Gen.Zip(Gen.Choose(0, 10), TransportGenerators.PayloadGen(48))),
        t =>
        {
            (int words, byte[] tail) = t;
            var segment = new byte[20 + tail.Length];
            tail.CopyTo(segment, 20);
            segment[12] = (byte)((5 + words) << 4);
            Exercise(segment);
        });

    [Property(MaxTest = 100, Arbitrary = [typeof(TransportGenerators)])]
    public void EveryPrefix_NeverThrows(TcpRepr repr)
    {
        byte[] bytes = Emit(repr);
        for (int n = 0; n <= bytes.Length; n++)
        {
            Exercise(bytes.AsSpan(0, n));
        }
    }

    [Property(MaxTest = 300)]
    public Property CorruptedByte_NeverThrows() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.TcpReprGen, Gen.Zip(Gen.Choose(0, 59), Gen.Choose(0, 255)))),
        t =>
        {
            (TcpRepr repr, (int index, int value)) = t;
            byte[] bytes = Emit(repr);
            bytes[index % bytes.Length] = (byte)value;
            Exercise(bytes);
        });
}
