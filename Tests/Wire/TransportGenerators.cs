using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Tests.Wire;

/// <summary>FsCheck generators for the transport reprs, and arbitraries for FsCheck property attributes (no tests here).</summary>
public static class TransportGenerators
{
    public static Gen<ushort> UInt16Gen => Gen.Choose(0, 65535).Select(v => (ushort)v);

    public static Gen<uint> UInt32Gen =>
        Gen.Zip(UInt16Gen, UInt16Gen, (hi, lo) => ((uint)hi << 16) | lo);

    public static Gen<byte[]> PayloadGen(int maxLength) =>
        Gen.Choose(0, maxLength).SelectMany(n => Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(n));

    private static Gen<T?> Optional<T>(Gen<T> gen) where T : struct =>
        Gen.Frequency((1, Gen.Constant((T?)null)), (2, gen.Select(v => (T?)v)));

    public static Gen<TcpRepr> TcpReprGen =>
        from ports in UInt16Gen.Two()
        from seqAck in UInt32Gen.Two()
        from flags in Gen.Choose(0, 0x1FF)
        from windowUrgent in UInt16Gen.Two()
        from mss in Optional(UInt16Gen)
        from ws in Optional(Gen.Choose(0, 255).Select(v => (byte)v))
        from sackPermitted in Gen.Elements(true, false)
        from ts in Optional(Gen.Zip(UInt32Gen, UInt32Gen, (v, e) => new TcpTimestamps(v, e)))
        from blocks in Gen.Choose(0, 4).SelectMany(n => Gen.Zip(UInt32Gen, UInt32Gen, (l, r) => new TcpSackBlock(l, r)).ArrayOf(n))
        select MakeTcp(ports, seqAck, flags, windowUrgent, mss, ws, sackPermitted, ts, blocks);

    private static TcpRepr MakeTcp(
        (ushort, ushort) ports, (uint, uint) seqAck, int flags, (ushort, ushort) windowUrgent,
        ushort? mss, byte? ws, bool sackPermitted, TcpTimestamps? ts, TcpSackBlock[] blocks)
    {
        var repr = new TcpRepr
        {
            SourcePort = ports.Item1,
            DestinationPort = ports.Item2,
            SequenceNumber = seqAck.Item1,
            AcknowledgmentNumber = seqAck.Item2,
            Flags = (TcpFlags)flags,
            WindowSize = windowUrgent.Item1,
            UrgentPointer = windowUrgent.Item2,
            MaxSegmentSize = mss,
            WindowScale = ws,
            SackPermitted = sackPermitted,
            Timestamps = ts,
        };
        // Keep only the blocks emit can carry, so that repr → emit → parse is the identity.
        foreach (TcpSackBlock block in blocks)
        {
            repr.SackBlocks.TryAdd(block);
        }
        var trimmed = repr;
        trimmed.SackBlocks.Clear();
        for (int i = 0; i < repr.SackBlocksToEmit; i++)
        {
            trimmed.SackBlocks.TryAdd(repr.SackBlocks[i]);
        }
        return trimmed;
    }

    public static Gen<UdpRepr> UdpReprGen =>
        from ports in UInt16Gen.Two()
        from length in Gen.Choose(0, 65535 - 8)
        select new UdpRepr { SourcePort = ports.Item1, DestinationPort = ports.Item2, PayloadLength = length };

    public static Gen<IcmpV4Repr> IcmpV4ReprGen => Gen.OneOf(
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV4Repr.EchoRequest),
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV4Repr.EchoReply),
        Gen.Choose(0, 15).Select(c => IcmpV4Repr.DestinationUnreachable((IcmpV4UnreachableCode)c)),
        UInt16Gen.Select(IcmpV4Repr.FragmentationNeeded),
        Gen.Choose(0, 1).Select(c => IcmpV4Repr.TimeExceeded((byte)c)),
        Gen.Choose(0, 255).Select(p => IcmpV4Repr.ParameterProblem((byte)p)));

    public static Gen<IcmpV6Repr> IcmpV6ReprGen => Gen.OneOf(
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV6Repr.EchoRequest),
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV6Repr.EchoReply),
        Gen.Choose(0, 6).Select(c => IcmpV6Repr.DestinationUnreachable((IcmpV6UnreachableCode)c)),
        UInt32Gen.Select(IcmpV6Repr.PacketTooBig),
        Gen.Choose(0, 1).Select(c => IcmpV6Repr.TimeExceeded((byte)c)),
        Gen.Zip(Gen.Choose(0, 2), UInt32Gen, (c, p) => IcmpV6Repr.ParameterProblem((byte)c, p)));

    public static Arbitrary<TcpRepr> TcpReprArb() => Arb.From(TcpReprGen);

    public static Arbitrary<UdpRepr> UdpReprArb() => Arb.From(UdpReprGen);

    public static Arbitrary<IcmpV4Repr> IcmpV4ReprArb() => Arb.From(IcmpV4ReprGen);

    public static Arbitrary<IcmpV6Repr> IcmpV6ReprArb() => Arb.From(IcmpV6ReprGen);
}

/// <summary>
/// Hand-written IPv4/IPv6 headers for tests (the IP views are written elsewhere; these tests do not depend
/// on them), and pseudo-header sums.
/// </summary>
internal static class TestIp
{
    public static readonly byte[] V4Source = [192, 0, 2, 1];
    public static readonly byte[] V4Destination = [198, 51, 100, 7];
    public static readonly byte[] V6Source = Convert.FromHexString("20010db8000000000000000000000001");
    public static readonly byte[] V6Destination = Convert.FromHexString("20010db80000000000000000000000fe");

    public static uint PseudoV4(IpProtocol protocol, int length) =>
        InternetChecksum.PseudoHeaderSumV4(V4Source, V4Destination, (byte)protocol, length);

    public static uint PseudoV6(IpProtocol protocol, int length) =>
        InternetChecksum.PseudoHeaderSumV6(V6Source, V6Destination, (byte)protocol, length);

    /// <summary>An IPv4 packet (no options, DF, TTL 64, valid header checksum) around <paramref name="payload"/>.</summary>
    public static byte[] V4(IpProtocol protocol, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), 0x1234);
        packet[6] = 0x40;
        packet[8] = 64;
        packet[9] = (byte)protocol;
        V4Source.CopyTo(packet, 12);
        V4Destination.CopyTo(packet, 16);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), InternetChecksum.Compute(packet.AsSpan(0, 20)));
        payload.CopyTo(packet.AsSpan(20));
        return packet;
    }

    /// <summary>An IPv6 packet (hop limit 64, no extension headers) around <paramref name="payload"/>.</summary>
    public static byte[] V6(IpProtocol protocol, ReadOnlySpan<byte> payload)
    {
        var packet = new byte[40 + payload.Length];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)payload.Length);
        packet[6] = (byte)protocol;
        packet[7] = 64;
        V6Source.CopyTo(packet, 8);
        V6Destination.CopyTo(packet, 24);
        payload.CopyTo(packet.AsSpan(40));
        return packet;
    }
}
