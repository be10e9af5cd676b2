// Fragments of valid packets, as a sender fragments them (RFC 791 §3.2, RFC 8200 §4.5): cuts at multiples of 8
// bytes, MF on all but the last, and for IPv6 a fragment header after the unfragmentable part with the whole
// header chain in the first fragment (RFC 7112). Arrival order shuffled, a duplicate now and then.
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>A packet and its fragments in arrival order.</summary>
/// <param name="Original">The unfragmented packet.</param>
/// <param name="Fragments">The fragments as they arrive (shuffled, maybe with a duplicate).</param>
/// <param name="Pieces">How many distinct fragments the packet was cut into.</param>
public sealed record FragmentedPacket(GeneratedPacket Original, IReadOnlyList<byte[]> Fragments, int Pieces)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Original.Kind} in {Pieces} piece(s), {Fragments.Count} arriving: {string.Join(" ", Fragments.Select(Convert.ToHexString))}";
}

/// <summary>Builders and FsCheck generators of IPv4 and IPv6 fragments.</summary>
public static class FragmentGenerators
{
    /// <summary>
    /// Cuts an IPv4 packet (header checksum and total length right) at <paramref name="cuts"/>: offsets into its
    /// payload, multiples of 8, ascending, strictly inside it. Each fragment gets the header with its own total
    /// length, MF and offset and a fresh checksum; options travel in the first fragment only (correct for options
    /// without the copied flag, RFC 791 §3.1). The packet's DF flag is cleared.
    /// </summary>
    public static byte[][] Ipv4Fragments(ReadOnlySpan<byte> packet, IReadOnlyList<int> cuts)
    {
        ArgumentNullException.ThrowIfNull(cuts);
        int ihl = (packet[0] & 0x0F) * 4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        ReadOnlySpan<byte> payload = packet[ihl..total];
        int baseOffset = (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x1FFF) * 8;
        bool baseMore = (packet[6] & 0x20) != 0;
        var fragments = new byte[cuts.Count + 1][];
        for (int i = 0; i <= cuts.Count; i++)
        {
            int start = i == 0 ? 0 : cuts[i - 1];
            int end = i == cuts.Count ? payload.Length : cuts[i];
            int headerLength = i == 0 ? ihl : Ipv4Header.MinLength;
            var fragment = new byte[headerLength + end - start];
            packet[..Ipv4Header.MinLength].CopyTo(fragment);
            if (i == 0)
            {
                packet[Ipv4Header.MinLength..ihl].CopyTo(fragment.AsSpan(Ipv4Header.MinLength));
            }
            fragment[0] = (byte)(0x40 | (headerLength / 4));
            payload[start..end].CopyTo(fragment.AsSpan(headerLength));
            Ipv4Header.SetTotalLength(fragment, (ushort)fragment.Length);
            Ipv4Header.SetFragment(fragment, dontFragment: false, moreFragments: i < cuts.Count || baseMore, baseOffset + start);
            Ipv4Header.RecomputeChecksum(fragment);
            fragments[i] = fragment;
        }
        return fragments;
    }

    /// <summary>
    /// Fragments an IPv6 packet with identification <paramref name="identification"/>: the fixed header and a leading
    /// hop-by-hop header are the unfragmentable part; a fragment header follows it; the rest is cut at
    /// <paramref name="cuts"/> (offsets into the fragmentable part, multiples of 8, ascending, strictly inside it).
    /// </summary>
    public static byte[][] Ipv6Fragments(ReadOnlySpan<byte> packet, uint identification, IReadOnlyList<int> cuts)
    {
        ArgumentNullException.ThrowIfNull(cuts);
        int unfragmentable = UnfragmentableLength(packet, out int nextHeaderPosition);
        int end = Ipv6Header.Length + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        ReadOnlySpan<byte> fragmentable = packet[unfragmentable..end];
        IpProtocol next = (IpProtocol)packet[nextHeaderPosition];
        var fragments = new byte[cuts.Count + 1][];
        for (int i = 0; i <= cuts.Count; i++)
        {
            int start = i == 0 ? 0 : cuts[i - 1];
            int stop = i == cuts.Count ? fragmentable.Length : cuts[i];
            var fragment = new byte[unfragmentable + Ipv6FragmentRepr.BufferLength + stop - start];
            packet[..unfragmentable].CopyTo(fragment);
            fragment[nextHeaderPosition] = (byte)IpProtocol.Ipv6Fragment;
            new Ipv6FragmentRepr { NextHeader = next, FragmentOffset = start, MoreFragments = i < cuts.Count, Identification = identification }
                .Emit(fragment.AsSpan(unfragmentable));
            fragmentable[start..stop].CopyTo(fragment.AsSpan(unfragmentable + Ipv6FragmentRepr.BufferLength));
            Ipv6Header.SetPayloadLength(fragment, (ushort)(fragment.Length - Ipv6Header.Length));
            fragments[i] = fragment;
        }
        return fragments;
    }

    /// <summary>
    /// The bytes of the fragmentable part the first fragment must hold so that it carries the whole header chain and
    /// the upper-layer header (RFC 7112 §5: TCP with its options, UDP's 8 bytes, ICMPv6's 4), rounded up to a multiple
    /// of 8 (at least 8).
    /// </summary>
    public static int Ipv6MinimumFirstFragment(ReadOnlySpan<byte> packet)
    {
        int unfragmentable = UnfragmentableLength(packet, out _);
        int end = Ipv6Header.Length + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        if (!Ipv6ExtensionWalker.TryWalk((IpProtocol)packet[6], packet[Ipv6Header.Length..end], out Ipv6ExtensionChain walked, out _))
        {
            return 8;
        }
        int upper = Ipv6Header.Length + walked.UpperLayerOffset;
        int header = walked.UpperLayerProtocol switch
        {
            IpProtocol.Tcp when end >= upper + 13 => Math.Max(TcpHeader.MinLength, (packet[upper + 12] >> 4) * 4),
            IpProtocol.Tcp => TcpHeader.MinLength,
            IpProtocol.Udp => UdpHeader.HeaderLength,
            IpProtocol.IcmpV6 => 4,
            _ => 0,
        };
        return Math.Max(8, (upper - unfragmentable + header + 7) & ~7);
    }

    /// <summary>
    /// Ascending cut offsets for a fragmentable part of <paramref name="length"/> bytes: 0–<paramref name="maxCuts"/>
    /// multiples of 8, the first at or above <paramref name="minimumFirst"/>.
    /// </summary>
    public static Gen<int[]> Cuts(int length, int minimumFirst = 8, int maxCuts = 8)
    {
        int first = Math.Max(8, (minimumFirst + 7) & ~7);
        int slots = (length - 1 - first) / 8 + 1; // positions first, first+8, … below length
        if (length <= first || slots <= 0)
        {
            return Gen.Constant(Array.Empty<int>());
        }
        return from count in Gen.Choose(0, Math.Min(maxCuts, slots))
               from picks in Gen.ArrayOf(Gen.Choose(0, slots - 1), count)
               select picks.Distinct().Order().Select(p => first + (p * 8)).ToArray();
    }

    /// <summary>
    /// A packet from <paramref name="packets"/> (default: <see cref="PacketGenerators.Any"/> with payloads up to 600 bytes)
    /// cut into fragments, delivered shuffled, one of them duplicated one time in four. An IPv4 original has DF
    /// cleared (a fragmented datagram cannot carry it), so it is exactly what reassembly rebuilds.
    /// </summary>
    public static Gen<FragmentedPacket> Fragmented(Gen<GeneratedPacket>? packets = null) =>
        from generated in packets ?? PacketGenerators.Any(600)
        let packet = generated.Version == 4 ? generated with { Bytes = WithoutDontFragment(generated.Bytes) } : generated
        from identification in IpGenerators.UInt32
        let v6 = packet.Version == 6
        let length = v6 ? FragmentableLength(packet.Bytes) : packet.Bytes.Length - ((packet.Bytes[0] & 0x0F) * 4)
        from cuts in Cuts(length, v6 ? Ipv6MinimumFirstFragment(packet.Bytes) : 8)
        let pieces = v6 ? Ipv6Fragments(packet.Bytes, identification, cuts) : Ipv4Fragments(packet.Bytes, cuts)
        from order in Gen.Shuffle(Enumerable.Range(0, pieces.Length).ToArray())
        from duplicate in Gen.Frequency((3, Gen.Constant(-1)), (1, Gen.Choose(0, pieces.Length - 1)))
        select new FragmentedPacket(packet,
            [.. order.Select(i => pieces[i]), .. duplicate >= 0 ? new[] { pieces[duplicate] } : []], pieces.Length);

    private static byte[] WithoutDontFragment(byte[] packet)
    {
        byte[] copy = (byte[])packet.Clone();
        copy[6] &= 0xBF;
        Ipv4Header.RecomputeChecksum(copy);
        return copy;
    }

    private static int FragmentableLength(ReadOnlySpan<byte> packet) =>
        Ipv6Header.Length + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) - UnfragmentableLength(packet, out _);

    // Fixed header, plus a hop-by-hop header when it comes first (RFC 8200 §4.5: the per-fragment headers).
    private static int UnfragmentableLength(ReadOnlySpan<byte> packet, out int nextHeaderPosition)
    {
        nextHeaderPosition = Ipv6Header.NextHeaderOffset;
        if ((IpProtocol)packet[Ipv6Header.NextHeaderOffset] == IpProtocol.HopByHop && packet.Length >= Ipv6Header.Length + 2)
        {
            nextHeaderPosition = Ipv6Header.Length;
            return Ipv6Header.Length + ((packet[Ipv6Header.Length + 1] + 1) * 8);
        }
        return Ipv6Header.Length;
    }
}
