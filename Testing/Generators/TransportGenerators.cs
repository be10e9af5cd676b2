// FsCheck generators of the transport header reprs (TCP with options, UDP, ICMPv4, ICMPv6).
using FsCheck;
using FsCheck.Fluent;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>FsCheck generators for the transport reprs, and arbitraries for FsCheck property attributes.</summary>
public static class TransportGenerators
{
    /// <summary>Any 16-bit value.</summary>
    public static Gen<ushort> UInt16Gen => Gen.Choose(0, 65535).Select(v => (ushort)v);

    /// <summary>Any 32-bit value.</summary>
    public static Gen<uint> UInt32Gen =>
        Gen.Zip(UInt16Gen, UInt16Gen, (hi, lo) => ((uint)hi << 16) | lo);

    /// <summary>0..<paramref name="maxLength"/> random bytes.</summary>
    public static Gen<byte[]> PayloadGen(int maxLength) =>
        Gen.Choose(0, maxLength).SelectMany(n => Gen.Choose(0, 255).Select(b => (byte)b).ArrayOf(n));

    private static Gen<T?> Optional<T>(Gen<T> gen) where T : struct =>
        Gen.Frequency((1, Gen.Constant((T?)null)), (2, gen.Select(v => (T?)v)));

    /// <summary>
    /// Any TCP header repr: any ports, numbers, the 9 flag bits, window and urgent pointer, each option present or not
    /// (MSS, window scale, SACK-permitted, timestamps) and 0–4 SACK blocks, trimmed to what emit can carry so that
    /// repr → emit → parse is the identity.
    /// </summary>
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

    /// <summary>Any UDP header repr (payload length 0..65527).</summary>
    public static Gen<UdpRepr> UdpReprGen =>
        from ports in UInt16Gen.Two()
        from length in Gen.Choose(0, 65535 - 8)
        select new UdpRepr { SourcePort = ports.Item1, DestinationPort = ports.Item2, PayloadLength = length };

    /// <summary>ICMPv4 echo, destination unreachable (codes 0–15), fragmentation needed, time exceeded, parameter problem.</summary>
    public static Gen<IcmpV4Repr> IcmpV4ReprGen => Gen.OneOf(
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV4Repr.EchoRequest),
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV4Repr.EchoReply),
        Gen.Choose(0, 15).Select(c => IcmpV4Repr.DestinationUnreachable((IcmpV4UnreachableCode)c)),
        UInt16Gen.Select(IcmpV4Repr.FragmentationNeeded),
        Gen.Choose(0, 1).Select(c => IcmpV4Repr.TimeExceeded((byte)c)),
        Gen.Choose(0, 255).Select(p => IcmpV4Repr.ParameterProblem((byte)p)));

    /// <summary>ICMPv6 echo, destination unreachable (codes 0–6), packet too big, time exceeded, parameter problem.</summary>
    public static Gen<IcmpV6Repr> IcmpV6ReprGen => Gen.OneOf(
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV6Repr.EchoRequest),
        Gen.Zip(UInt16Gen, UInt16Gen, IcmpV6Repr.EchoReply),
        Gen.Choose(0, 6).Select(c => IcmpV6Repr.DestinationUnreachable((IcmpV6UnreachableCode)c)),
        UInt32Gen.Select(IcmpV6Repr.PacketTooBig),
        Gen.Choose(0, 1).Select(c => IcmpV6Repr.TimeExceeded((byte)c)),
        Gen.Zip(Gen.Choose(0, 2), UInt32Gen, (c, p) => IcmpV6Repr.ParameterProblem((byte)c, p)));

    /// <summary><see cref="TcpReprGen"/> as an arbitrary.</summary>
    public static Arbitrary<TcpRepr> TcpReprArb() => Arb.From(TcpReprGen);

    /// <summary><see cref="UdpReprGen"/> as an arbitrary.</summary>
    public static Arbitrary<UdpRepr> UdpReprArb() => Arb.From(UdpReprGen);

    /// <summary><see cref="IcmpV4ReprGen"/> as an arbitrary.</summary>
    public static Arbitrary<IcmpV4Repr> IcmpV4ReprArb() => Arb.From(IcmpV4ReprGen);

    /// <summary><see cref="IcmpV6ReprGen"/> as an arbitrary.</summary>
    public static Arbitrary<IcmpV6Repr> IcmpV6ReprArb() => Arb.From(IcmpV6ReprGen);
}
