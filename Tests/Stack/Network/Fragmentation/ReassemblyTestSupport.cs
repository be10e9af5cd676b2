// Builders for fragment tests: whole datagrams (IPv4 with options, IPv6 with extension headers) and their
// fragments cut at any 8-byte boundary, plus helpers to feed them to a reassembler.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

/// <summary>An IPv6 datagram and where its unfragmentable part ends (RFC 8200 §4.5).</summary>
/// <param name="Bytes">The whole packet.</param>
/// <param name="UnfragmentableLength">Fixed header plus the extension headers that stay in every fragment.</param>
/// <param name="NextHeaderPosition">The next-header byte that names the first fragmentable header.</param>
public sealed record Ipv6Datagram(byte[] Bytes, int UnfragmentableLength, int NextHeaderPosition)
{
    public int FragmentableLength => Bytes.Length - UnfragmentableLength;

    public override string ToString() => $"IPv6 {Bytes.Length} bytes, unfragmentable {UnfragmentableLength}";
}

/// <summary>One cut of a datagram: data [Offset, Offset+Length), M flag.</summary>
public readonly record struct Cut(int Offset, int Length, bool More)
{
    public int End => Offset + Length;
}

internal static class Frag
{
    public static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>An IPv4 UDP datagram of <paramref name="payloadLength"/> bytes after the UDP header, DF clear, optional options.</summary>
    public static byte[] Ipv4Datagram(int payloadLength, ushort id = 0x1234, byte[]? options = null, int seed = 1, IpProtocol protocol = IpProtocol.Udp)
    {
        var ip = new Ipv4Repr
        {
            Source = Packets.V4A,
            Destination = Packets.V4B,
            Protocol = protocol,
            TimeToLive = 64,
            Identification = id,
            PayloadLength = UdpHeader.HeaderLength + payloadLength,
        };
        if (options is not null)
        {
            ip.SetOptions(options);
        }
        var packet = new byte[ip.TotalLength];
        ip.Emit(packet);
        Span<byte> udp = packet.AsSpan(ip.HeaderLength);
        new UdpRepr { SourcePort = 5000, DestinationPort = 53, PayloadLength = payloadLength }.Emit(udp);
        Packets.Payload(payloadLength, seed).CopyTo(udp[UdpHeader.HeaderLength..]);
        return packet;
    }

    /// <summary>
    /// An IPv6 UDP datagram with optional hop-by-hop and routing headers (unfragmentable) and destination
    /// options (fragmentable, before the UDP header).
    /// </summary>
    public static Ipv6Datagram Ipv6Datagram(int payloadLength, bool hopByHop = false, bool routing = false, bool destinationOptions = false, int seed = 1)
    {
        byte[] inner = Packets.Ipv6Udp(Packets.Payload(payloadLength, seed));
        var types = new List<IpProtocol>();
        if (hopByHop)
        {
            types.Add(IpProtocol.HopByHop);
        }
        if (routing)
        {
            types.Add(IpProtocol.Ipv6Route);
        }
        if (destinationOptions)
        {
            types.Add(IpProtocol.Ipv6DestinationOptions);
        }
        if (types.Count == 0)
        {
            return new Ipv6Datagram(inner, Ipv6Header.Length, Ipv6Header.NextHeaderOffset);
        }
        var ext = new byte[types.Count * 8];
        for (int i = 0; i < types.Count; i++)
        {
            Span<byte> h = ext.AsSpan(i * 8, 8);
            h[0] = (byte)(i + 1 < types.Count ? types[i + 1] : IpProtocol.Udp);
            h[1] = 0; // 8 bytes
            if (types[i] == IpProtocol.Ipv6Route)
            {
                h[2] = 253; // experimental routing type (RFC 4727), segments left 0
                h[3] = 0;
            }
            else
            {
                h[2] = 1; // PadN covering the remaining 4 bytes
                h[3] = 4;
            }
        }
        byte[] packet = Packets.WithIpv6Extensions(inner, types[0], ext);
        int unfragmentableCount = types.Count(t => t != IpProtocol.Ipv6DestinationOptions);
        int unfragmentable = Ipv6Header.Length + unfragmentableCount * 8;
        int position = unfragmentableCount == 0 ? Ipv6Header.NextHeaderOffset : Ipv6Header.Length + (unfragmentableCount - 1) * 8;
        return new Ipv6Datagram(packet, unfragmentable, position);
    }

    /// <summary>An IPv4 fragment of <paramref name="datagram"/>: its header with total length, MF and offset set, and the data slice.</summary>
    public static byte[] Ipv4Fragment(byte[] datagram, int offset, int length, bool more)
    {
        int headerLength = (datagram[0] & 0x0F) * 4;
        var fragment = new byte[headerLength + length];
        datagram.AsSpan(0, headerLength).CopyTo(fragment);
        datagram.AsSpan(headerLength + offset, length).CopyTo(fragment.AsSpan(headerLength));
        bool df = (datagram[6] & 0x40) != 0;
        Ipv4Header.SetTotalLength(fragment, (ushort)fragment.Length);
        Ipv4Header.SetFragment(fragment, df, more, offset);
        Ipv4Header.RecomputeChecksum(fragment);
        return fragment;
    }

    public static byte[] Ipv4Fragment(byte[] datagram, Cut cut) => Ipv4Fragment(datagram, cut.Offset, cut.Length, cut.More);

    /// <summary>An IPv6 fragment: the unfragmentable part, a fragment header, and the data slice of the fragmentable part.</summary>
    public static byte[] Ipv6Fragment(Ipv6Datagram datagram, int offset, int length, bool more, uint id = 0xCAFE)
    {
        int u = datagram.UnfragmentableLength;
        var fragment = new byte[u + 8 + length];
        datagram.Bytes.AsSpan(0, u).CopyTo(fragment);
        new Ipv6FragmentRepr { NextHeader = (IpProtocol)datagram.Bytes[datagram.NextHeaderPosition], FragmentOffset = offset, MoreFragments = more, Identification = id }
            .Emit(fragment.AsSpan(u));
        datagram.Bytes.AsSpan(u + offset, length).CopyTo(fragment.AsSpan(u + 8));
        fragment[datagram.NextHeaderPosition] = (byte)IpProtocol.Ipv6Fragment;
        Ipv6Header.SetPayloadLength(fragment, (ushort)(fragment.Length - Ipv6Header.Length));
        return fragment;
    }

    public static byte[] Ipv6Fragment(Ipv6Datagram datagram, Cut cut, uint id = 0xCAFE) => Ipv6Fragment(datagram, cut.Offset, cut.Length, cut.More, id);

    /// <summary>Cuts <paramref name="length"/> bytes into pieces of the given sizes (multiples of 8 except the last).</summary>
    public static Cut[] Cuts(int length, params int[] sizes)
    {
        var cuts = new List<Cut>();
        int offset = 0;
        foreach (int size in sizes)
        {
            int take = Math.Min(size, length - offset);
            cuts.Add(new Cut(offset, take, offset + take < length));
            offset += take;
        }
        if (offset < length)
        {
            cuts.Add(new Cut(offset, length - offset, false));
        }
        return cuts.ToArray();
    }

    /// <summary>A random split of <paramref name="length"/> bytes at 8-byte boundaries into at most <paramref name="maxPieces"/> pieces.</summary>
    public static Cut[] RandomCuts(Random random, int length, int maxPieces)
    {
        int units = (length + 7) / 8;
        int pieces = Math.Min(maxPieces, random.Next(1, Math.Max(2, units)));
        var boundaries = new SortedSet<int> { 0 };
        while (boundaries.Count < pieces)
        {
            boundaries.Add(random.Next(1, units) * 8);
        }
        int[] starts = boundaries.ToArray();
        var cuts = new Cut[starts.Length];
        for (int i = 0; i < starts.Length; i++)
        {
            int end = i + 1 < starts.Length ? starts[i + 1] : length;
            cuts[i] = new Cut(starts[i], end - starts[i], i + 1 < starts.Length);
        }
        return cuts;
    }

    public static void Shuffle<T>(Random random, IList<T> list)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    /// <summary>Feeds every fragment (copied into pooled buffers); returns the completed datagrams' bytes and releases them.</summary>
    public static List<byte[]> Feed(FragmentReassembler reassembler, PacketBufferPool pool, IEnumerable<byte[]> fragments)
    {
        var completed = new List<byte[]>();
        foreach (byte[] fragment in fragments)
        {
            ReassemblyResult result = reassembler.Process(pool.RentCopy(fragment));
            if (result.Status == ReassemblyStatus.Completed)
            {
                completed.Add(result.Packet!.ToArray());
                result.Packet.Release();
            }
        }
        return completed;
    }

    /// <summary>Same as <see cref="Ipv4Header.VerifyChecksum(ReadOnlySpan{byte})"/> on the header at the start of a packet.</summary>
    public static bool Ipv4ChecksumOk(ReadOnlySpan<byte> packet) => Ipv4Header.VerifyChecksum(packet[..((packet[0] & 0x0F) * 4)]);

    public static ushort Read16(ReadOnlySpan<byte> bytes, int offset) => BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
}
