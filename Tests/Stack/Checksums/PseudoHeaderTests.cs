// Pseudo-header sums against an explicit pseudo-header laid out byte by byte, and TCP checksums over
// IPv4 and IPv6 against PacketDotNet for the same bytes.
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;

namespace NetStack.Tests.Stack.Checksums;

public class PseudoHeaderTests
{
    private const byte Tcp = 6;

    [Property(MaxTest = 500)]
    public Property Rfc9293_ipv4_pseudo_header_sum_equals_explicit_layout() =>
        Prop.ForAll(Arb.From(AddressCase(4, 0xFFFF)), c =>
        {
            // RFC 9293 §3.1: source, destination, zero, PTCL, TCP length.
            byte[] pseudo = new byte[12];
            c.Source.CopyTo(pseudo, 0);
            c.Destination.CopyTo(pseudo, 4);
            pseudo[9] = c.Protocol;
            BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), (ushort)c.Length);
            return InternetChecksum.Fold(InternetChecksum.PseudoHeaderSumV4(c.Source, c.Destination, c.Protocol, c.Length))
                == InternetChecksum.Fold(InternetChecksum.SumScalar(pseudo));
        });

    [Property(MaxTest = 500)]
    public Property Rfc8200_ipv6_pseudo_header_sum_equals_explicit_layout() =>
        Prop.ForAll(Arb.From(AddressCase(16, int.MaxValue)), c =>
        {
            // RFC 8200 §8.1: source, destination, 32-bit upper-layer length, three zero bytes, next header.
            byte[] pseudo = new byte[40];
            c.Source.CopyTo(pseudo, 0);
            c.Destination.CopyTo(pseudo, 16);
            BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), (uint)c.Length);
            pseudo[39] = c.Protocol;
            return InternetChecksum.Fold(InternetChecksum.PseudoHeaderSumV6(c.Source, c.Destination, c.Protocol, c.Length))
                == InternetChecksum.Fold(InternetChecksum.SumScalar(pseudo));
        });

    [Property(MaxTest = 200)]
    public Property Tcp_checksum_over_ipv4_matches_PacketDotNet() =>
        Prop.ForAll(Arb.From(SegmentGen(4)), c =>
        {
            uint pseudo = InternetChecksum.PseudoHeaderSumV4(c.Source, c.Destination, Tcp, c.Segment.Length);
            ushort ours = InternetChecksum.Compute(c.Segment, pseudo);
            return ours == PacketDotNetOracle.TcpChecksumV4(c.Source, c.Destination, c.Segment) && Verifies(c.Segment, pseudo, ours);
        });

    [Property(MaxTest = 200)]
    public Property Tcp_checksum_over_ipv6_matches_PacketDotNet() =>
        Prop.ForAll(Arb.From(SegmentGen(16)), c =>
        {
            uint pseudo = InternetChecksum.PseudoHeaderSumV6(c.Source, c.Destination, Tcp, c.Segment.Length);
            ushort ours = InternetChecksum.Compute(c.Segment, pseudo);
            return ours == PacketDotNetOracle.TcpChecksumV6(c.Source, c.Destination, c.Segment) && Verifies(c.Segment, pseudo, ours);
        });

    // RFC 1071 §1: with the checksum in place, the receiver's sum folds to all ones.
    private static bool Verifies(byte[] segment, uint pseudo, ushort checksum)
    {
        byte[] copy = (byte[])segment.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(16), checksum);
        return InternetChecksum.Fold(InternetChecksum.Sum(copy, pseudo)) == 0xFFFF;
    }

    internal sealed record PseudoCase(byte[] Source, byte[] Destination, byte Protocol, int Length);

    internal sealed record SegmentCase(byte[] Source, byte[] Destination, byte[] Segment);

    private static Gen<byte> AnyByte() => ArbMap.Default.GeneratorFor<byte>();

    private static Gen<PseudoCase> AddressCase(int addressLength, int maxLength) =>
        from source in Gen.ArrayOf(AnyByte(), addressLength)
        from destination in Gen.ArrayOf(AnyByte(), addressLength)
        from protocol in Gen.Elements((byte)6, (byte)17, (byte)58, (byte)0, (byte)255)
        from length in Gen.Frequency((2, Gen.Choose(0, 0xFFFF)), (1, Gen.Elements(0, 1, 0xFFFF, maxLength)), (1, Gen.Choose(0, maxLength)))
        select new PseudoCase(source, destination, protocol, length);

    // A TCP segment (20-byte header with data offset 5, checksum field zero) and a payload of any parity.
    private static Gen<SegmentCase> SegmentGen(int addressLength) =>
        from source in Gen.ArrayOf(AnyByte(), addressLength)
        from destination in Gen.ArrayOf(AnyByte(), addressLength)
        from header in Gen.ArrayOf(AnyByte(), 20)
        from payloadLength in Gen.Frequency((3, Gen.Choose(0, 64)), (1, Gen.Choose(0, 3000)))
        from payload in Gen.ArrayOf(AnyByte(), payloadLength)
        select new SegmentCase(source, destination, MakeSegment(header, payload));

    private static byte[] MakeSegment(byte[] header, byte[] payload)
    {
        byte[] segment = [.. header, .. payload];
        segment[12] = 0x50; // data offset 5, no options
        segment[16] = segment[17] = 0;
        return segment;
    }
}
