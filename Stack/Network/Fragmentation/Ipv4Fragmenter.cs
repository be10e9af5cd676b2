// Layer: network, fragmentation. Splits an IPv4 packet larger than the MTU into fragments (RFC 791 §3.2).
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Network.Fragmentation;

/// <summary>Outcome of <see cref="Ipv4Fragmenter.Fragment"/>.</summary>
internal enum Ipv4FragmentationStatus
{
    /// <summary>The fragments were written to the output.</summary>
    Fragmented,
    /// <summary>The packet fits the MTU: send it as it is (nothing written).</summary>
    FitsMtu,
    /// <summary>DF is set: do not fragment; send ICMP Fragmentation Needed or lower the path MTU (RFC 1191).</summary>
    DontFragment,
    /// <summary>The MTU is below 68, the least every IPv4 link must carry (RFC 791 §3.2).</summary>
    MtuTooSmall,
    /// <summary>The output span is too short; the count says how many fragments are needed.</summary>
    OutputTooSmall,
    /// <summary>The packet does not start with a valid IPv4 header (version, IHL, total length, options).</summary>
    Malformed,
    /// <summary>A fragment would reference more than <see cref="PacketBuffer.MaxPayloadSegments"/> pieces of the packet.</summary>
    SegmentLimit,
}

/// <summary>
/// Splits an IPv4 packet larger than an MTU into fragments (RFC 791 §3.2, "Fragmentation"). Each fragment is
/// a freshly rented head with a copy of the IP header (on fragments after the first, only the options whose
/// copied flag is set, RFC 791 §3.1) and a by-reference slice of the payload: no payload byte is copied. Data
/// offsets are multiples of 8, MF is set on all fragments but the last (which keeps the packet's own MF, so an
/// already fragmented packet can be split again), and every header checksum is fresh.
/// </summary>
internal static class Ipv4Fragmenter
{
    /// <summary>The least MTU RFC 791 §3.2 allows: "Every internet module must be able to forward a datagram of 68 octets".</summary>
    public const int MinimumMtu = 68;

    /// <summary>
    /// Fragments <paramref name="packet"/> (IPv4 header first, payload anywhere in its segments) for
    /// <paramref name="mtu"/>. The packet is borrowed: the fragments take their own references to its memory and
    /// the caller still releases it. On <see cref="Ipv4FragmentationStatus.Fragmented"/> the first
    /// <paramref name="count"/> elements of <paramref name="output"/> hold new buffers (one reference each,
    /// owned by the caller, <see cref="PacketBuffer.NetworkProtocol"/> IPv4); on any other status nothing is
    /// written and <paramref name="count"/> is 0, except with <see cref="Ipv4FragmentationStatus.OutputTooSmall"/>
    /// where it is the number of fragments needed. Heads are rented from <paramref name="pool"/>, or the
    /// packet's pool when null.
    /// </summary>
    public static Ipv4FragmentationStatus Fragment(PacketBuffer packet, int mtu, Span<PacketBuffer> output, out int count, PacketBufferPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(packet);
        count = 0;
        Span<byte> header = stackalloc byte[Ipv4Header.MaxLength];
        int copied = Math.Min(packet.Length, Ipv4Header.MaxLength);
        packet.CopyTo(0, header[..copied]);
        if (!Ipv4Header.TryCreate(header[..copied], packet.Length, out Ipv4Header ip, out _))
        {
            return Ipv4FragmentationStatus.Malformed;
        }
        int headerLength = ip.HeaderLength;
        int totalLength = ip.TotalLength;
        if (totalLength <= mtu)
        {
            return Ipv4FragmentationStatus.FitsMtu;
        }
        if (mtu < MinimumMtu)
        {
            return Ipv4FragmentationStatus.MtuTooSmall;
        }
        if (ip.DontFragment)
        {
            return Ipv4FragmentationStatus.DontFragment;
        }
        int baseOffset = ip.FragmentOffset;        // RFC 791 §3.2: a fragment split again keeps its place
        bool lastMore = ip.MoreFragments;
        header = header[..headerLength];

        // Header of the later fragments: the fixed part plus the options with the copied flag, padded with EOL.
        Span<byte> laterHeader = stackalloc byte[Ipv4Header.MaxLength];
        int laterLength = BuildLaterHeader(header, laterHeader);
        if (laterLength < 0)
        {
            return Ipv4FragmentationStatus.Malformed;
        }
        laterHeader = laterHeader[..laterLength];

        int dataLength = totalLength - headerLength;
        int firstData = (mtu - headerLength) & ~7;   // mtu ≥ 68 and header ≤ 60: at least 8
        int laterData = (mtu - laterLength) & ~7;
        int needed = 1 + Math.Max(0, dataLength - firstData + laterData - 1) / laterData; // dataLength > firstData here
        if (needed > output.Length)
        {
            count = needed;
            return Ipv4FragmentationStatus.OutputTooSmall;
        }

        pool ??= packet.Pool;
        int position = 0;
        for (int i = 0; i < needed; i++)
        {
            bool first = i == 0;
            int take = Math.Min(first ? firstData : laterData, dataLength - position);
            bool last = position + take == dataLength;
            ReadOnlySpan<byte> template = first ? header : laterHeader;
            PacketBuffer fragment = pool.Rent(template.Length);
            Span<byte> h = fragment.Append(template.Length);
            template.CopyTo(h);
            Ipv4Header.SetTotalLength(h, (ushort)(template.Length + take));
            Ipv4Header.SetFragment(h, dontFragment: false, moreFragments: !last || lastMore, baseOffset + position);
            Ipv4Header.RecomputeChecksum(h);
            if (!fragment.AppendReference(packet, headerLength + position, take))
            {
                fragment.Release();
                for (int j = 0; j < i; j++)
                {
                    output[j].Release();
                    output[j] = null!;
                }
                return Ipv4FragmentationStatus.SegmentLimit;
            }
            fragment.NetworkProtocol = NetworkProtocol.IPv4;
            output[i] = fragment;
            position += take;
        }
        count = needed;
        return Ipv4FragmentationStatus.Fragmented;
    }

    /// <summary>Writes the header for fragments after the first into <paramref name="destination"/>; its length, or -1 on bad options.</summary>
    private static int BuildLaterHeader(ReadOnlySpan<byte> header, Span<byte> destination)
    {
        header[..Ipv4Header.MinLength].CopyTo(destination);
        int length = Ipv4Header.MinLength;
        var reader = new Ipv4OptionReader(header[Ipv4Header.MinLength..]);
        while (reader.MoveNext())
        {
            Ipv4Option option = reader.Current;
            if (option.Copied)
            {
                // RFC 791 §3.1: the copied flag says the option goes into every fragment.
                ReadOnlySpan<byte> bytes = header.Slice(Ipv4Header.MinLength + reader.CurrentOffset, option.Length);
                bytes.CopyTo(destination[length..]);
                length += bytes.Length;
            }
        }
        if (reader.Error != WireError.None)
        {
            return -1;
        }
        while ((length & 3) != 0)
        {
            destination[length++] = Ipv4Option.EndOfList;
        }
        destination[Ipv4Header.VersionAndIhlOffset] = (byte)(0x40 | (length / 4));
        return length;
    }
}
