// Software GSO split (ARCHITECTURE.md §4): exact segments, checksums verified by our views and by PacketDotNet, bad input refused.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Testing.Packets;
using NetStack.Tests.Gro;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;
using PdnIPv4Packet = PacketDotNet.IPv4Packet;
using PdnIPv6Packet = PacketDotNet.IPv6Packet;
using PdnProtocolType = PacketDotNet.ProtocolType;

namespace NetStack.Tests.LinkEndpoint.Gso;

public class GsoSegmenterTests
{
    /// <summary>
    /// A super-segment as the stack's TCP would emit it: one header, <paramref name="payload"/> bytes spread over
    /// pieces of <paramref name="piece"/> bytes, CHECKSUM_PARTIAL (or a stale full checksum).
    /// </summary>
    private static PacketBuffer SuperSegment(PacketBufferPool pool, SegmentSpec spec, int mss, int piece, bool partial = true)
    {
        byte[] bytes = spec.Build();
        int header = spec.HeaderLength;
        if (partial)
        {
            int tcpLength = bytes.Length - spec.TcpOffset;
            uint pseudo = spec.V6
                ? InternetChecksum.PseudoHeaderSumV6(spec.Source6, spec.Destination6, 6, tcpLength)
                : InternetChecksum.PseudoHeaderSumV4(spec.Source, spec.Destination, 6, tcpLength);
            TcpHeader.WritePartialChecksum(bytes.AsSpan(spec.TcpOffset), pseudo);
        }
        PacketBuffer packet = pool.RentCopy(bytes.AsSpan(0, header));
        for (int offset = header; offset < bytes.Length; offset += piece)
        {
            using PacketBuffer part = pool.RentCopy(bytes.AsSpan(offset, Math.Min(piece, bytes.Length - offset)));
            Assert.True(packet.AppendReference(part, 0, part.Length));
        }
        packet.Gso = new GsoOptions
        {
            Type = spec.V6 ? GsoType.TcpV6 : GsoType.TcpV4,
            NeedsChecksum = partial,
            HeaderLength = (ushort)header,
            MaxSegmentSize = (ushort)mss,
            ChecksumStart = (ushort)spec.TcpOffset,
            ChecksumOffset = 16,
        };
        return packet;
    }

    /// <summary>The segments a correct split must produce, built independently.</summary>
    private static List<byte[]> Expected(SegmentSpec spec, int mss)
    {
        var result = new List<byte[]>();
        int count = Math.Max(1, (spec.Payload.Length + mss - 1) / mss);
        for (int i = 0; i < count; i++)
        {
            TcpFlags flags = spec.Flags;
            if (i != count - 1)
            {
                flags &= ~(TcpFlags.Psh | TcpFlags.Fin);
            }
            if (i != 0)
            {
                flags &= ~TcpFlags.Cwr;
            }
            result.Add((spec with
            {
                Sequence = spec.Sequence + (uint)(i * mss),
                Identification = (ushort)(spec.Identification + i),
                Flags = flags,
                Payload = spec.Payload[(i * mss)..Math.Min(spec.Payload.Length, (i + 1) * mss)],
            }).Build());
        }
        return result;
    }

    private static void AssertValid(byte[] segment, bool v6, int tcpOffset)
    {
        ReadOnlySpan<byte> tcp = segment.AsSpan(tcpOffset);
        uint pseudo;
        if (!v6)
        {
            Assert.True(Ipv4Header.TryCreate(segment, out Ipv4Header ip, out _));
            Assert.True(ip.VerifyChecksum());
            pseudo = InternetChecksum.PseudoHeaderSumV4(ip.SourceAddress, ip.DestinationAddress, 6, tcp.Length);
        }
        else
        {
            pseudo = InternetChecksum.PseudoHeaderSumV6(segment.AsSpan(8, 16), segment.AsSpan(24, 16), 6, tcp.Length);
        }
        Assert.True(TcpHeader.VerifyChecksum(tcp, pseudo));
    }

    [Theory]
    [InlineData(false, 1448, 1448, 0)]
    [InlineData(true, 1448, 1448, 0)]
    [InlineData(false, 333, 1000, 0)]   // odd MSS: segments start at odd offsets of the pieces
    [InlineData(true, 333, 177, 1)]     // with an extension header
    [InlineData(false, 1000, 65000, 0)] // payload in one piece
    public void Split_ProducesExactSegmentsWithFreshChecksums(bool v6, int mss, int piece, int extensions)
    {
        using var pool = new Support.LeakCheckedPool();
        SegmentSpec spec = new SegmentSpec
        {
            V6 = v6,
            Flags = TcpFlags.Ack | TcpFlags.Cwr | TcpFlags.Psh | TcpFlags.Fin,
            Identification = 65530,
            Sequence = uint.MaxValue - 3000,
            Extensions = [.. Enumerable.Range(0, extensions).Select(_ => SegmentSpec.DestinationOptions(3))],
            Payload = SegmentSpec.Data(20000, 5),
        };
        PacketBuffer super = SuperSegment(pool, spec, mss, piece);
        List<byte[]> expected = Expected(spec, mss);
        Assert.Equal(expected.Count, GsoSegmenter.SegmentCount(super));

        var output = new PacketBuffer[expected.Count];
        Assert.Equal(expected.Count, GsoSegmenter.Split(super, pool, output));
        var flat = new byte[2000];
        for (int i = 0; i < expected.Count; i++)
        {
            byte[] segment = output[i].ToArray();
            Assert.Equal(expected[i], segment);
            AssertValid(segment, v6, spec.TcpOffset);
            Assert.True(output[i].FragmentCount > 1); // payload by reference
            output[i].Release();

            int written = GsoSegmenter.WriteSegment(super, i, flat);
            Assert.Equal(GsoSegmenter.SegmentLength(super, i), written);
            Assert.Equal(expected[i], flat[..written]);
        }
        super.Release();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Split_AgreesWithPacketDotNet(bool v6)
    {
        using var pool = new Support.LeakCheckedPool();
        SegmentSpec spec = new SegmentSpec
        {
            V6 = v6,
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            Identification = 100,
            Sequence = 5000,
            Payload = SegmentSpec.Data(3000, 8),
        };
        PacketBuffer super = SuperSegment(pool, spec, 1400, 700);
        var output = new PacketBuffer[3];
        Assert.True(GsoSegmenter.TrySplit(super, pool, output, out int count, out GsoError error));
        Assert.Equal(GsoError.None, error);
        Assert.Equal(3, count);
        for (int i = 0; i < count; i++)
        {
            byte[] bytes = output[i].ToArray();
            output[i].Release();
            IPPacket ip = v6 ? new PdnIPv6Packet(new ByteArraySegment(bytes)) : new PdnIPv4Packet(new ByteArraySegment(bytes));
            Assert.Equal(PdnProtocolType.Tcp, ip.Protocol);
            if (ip is PdnIPv4Packet v4)
            {
                Assert.True(v4.ValidIPChecksum);
                Assert.Equal(100 + i, v4.Id);
                Assert.Equal(bytes.Length, v4.TotalLength);
            }
            else
            {
                Assert.Equal(bytes.Length - 40, ip.PayloadLength);
            }
            var tcp = Assert.IsType<TcpPacket>(ip.PayloadPacket);
            Assert.True(tcp.ValidTcpChecksum);
            Assert.Equal(5000u + (uint)(i * 1400), tcp.SequenceNumber);
            Assert.Equal(i == 2, tcp.Push);
            Assert.True(tcp.Acknowledgment);
            Assert.Equal(spec.Payload[(i * 1400)..Math.Min(3000, (i + 1) * 1400)], tcp.PayloadData);
        }
        super.Release();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LargestSuperSegment_AtSmallestMss_FitsMaxSegmentCount(bool v6)
    {
        // 64 KiB at TCP's floor MSS (48, as Linux's tcp_min_snd_mss): a fixed array of MaxSegmentCount holds it
        // (the fuzzer found a 1024-entry array too short for a peer that advertised an MSS of 52).
        using var pool = new Support.LeakCheckedPool();
        var probe = new SegmentSpec { V6 = v6, Flags = TcpFlags.Ack, Payload = [] };
        var spec = new SegmentSpec { V6 = v6, Flags = TcpFlags.Ack, Payload = SegmentSpec.Data(65535 - probe.HeaderLength, 9) };
        PacketBuffer super = SuperSegment(pool, spec, 48, 4096);
        int count = GsoSegmenter.SegmentCount(super);
        Assert.True(count <= GsoSegmenter.MaxSegmentCount, $"{count} segments");
        Assert.True(count > 1024);
        var output = new PacketBuffer[GsoSegmenter.MaxSegmentCount];
        Assert.True(GsoSegmenter.TrySplit(super, pool, output, out int split, out GsoError error), error.ToString());
        Assert.Equal(count, split);
        List<byte[]> expected = Expected(spec, 48);
        for (int i = 0; i < split; i++)
        {
            Assert.Equal(expected[i], output[i].ToArray());
            output[i].Release();
        }
        super.Release();
    }

    [Fact]
    public void StaleOrCompleteChecksum_IsRecomputed()
    {
        using var pool = new Support.LeakCheckedPool();
        SegmentSpec spec = new SegmentSpec { Payload = SegmentSpec.Data(5000, 2) };
        PacketBuffer super = SuperSegment(pool, spec, 1000, 5000, partial: false);
        BinaryPrimitives.WriteUInt16BigEndian(super.Head[(spec.TcpOffset + 16)..], 0xBEEF); // stale
        BinaryPrimitives.WriteUInt16BigEndian(super.Head[10..], 0x1234);                    // stale IP checksum too
        var output = new PacketBuffer[5];
        Assert.Equal(5, GsoSegmenter.Split(super, pool, output));
        Assert.Equal(Expected(spec, 1000), output.Select(p => p.ToArray()));
        foreach (PacketBuffer p in output)
        {
            p.Release();
        }
        super.Release();
    }

    [Fact]
    public void NonGsoPacket_SplitsIntoItself()
    {
        using var pool = new Support.LeakCheckedPool();
        PacketBuffer packet = new SegmentSpec { Payload = SegmentSpec.Data(100) }.Rent(pool);
        Assert.Equal(1, GsoSegmenter.SegmentCount(packet));
        var output = new PacketBuffer[1];
        Assert.Equal(1, GsoSegmenter.Split(packet, pool, output));
        Assert.Same(packet, output[0]);
        Assert.Equal(2, packet.ReferenceCount);
        var flat = new byte[packet.Length];
        Assert.Equal(packet.Length, GsoSegmenter.WriteSegment(packet, 0, flat));
        Assert.Equal(packet.ToArray(), flat);
        output[0].Release();
        packet.Release();
    }

    [Fact]
    public void EmptyPayload_IsOneSegment()
    {
        using var pool = new Support.LeakCheckedPool();
        SegmentSpec spec = new SegmentSpec { Flags = TcpFlags.Ack | TcpFlags.Fin };
        PacketBuffer super = SuperSegment(pool, spec, 1000, 1);
        var output = new PacketBuffer[1];
        Assert.Equal(1, GsoSegmenter.Split(super, pool, output));
        Assert.Equal(spec.Build(), output[0].ToArray());
        output[0].Release();
        super.Release();
    }

    public static TheoryData<string, GsoError> BadInputs => new()
    {
        { "mss0", GsoError.ZeroMaxSegmentSize },
        { "udp", GsoError.UnsupportedType },
        { "v6type-on-v4", GsoError.TypeMismatch },
        { "length", GsoError.BadIpHeader },
        { "headers-split", GsoError.HeadersNotInHead },
        { "csum-start", GsoError.ChecksumStartMismatch },
        { "not-tcp", GsoError.NotTcp },
        { "fragment", GsoError.BadIpHeader },
        { "data-offset", GsoError.BadTcpHeader },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInput_IsRefusedWithAReason(string what, GsoError expected)
    {
        using var pool = new Support.LeakCheckedPool();
        SegmentSpec spec = new SegmentSpec { Payload = SegmentSpec.Data(3000) };
        PacketBuffer super = SuperSegment(pool, spec, 1000, 3000);
        switch (what)
        {
            case "mss0":
                super.Gso.MaxSegmentSize = 0;
                break;
            case "udp":
                super.Gso.Type = GsoType.UdpL4;
                break;
            case "v6type-on-v4":
                super.Gso.Type = GsoType.TcpV6;
                break;
            case "length":
                Ipv4Header.SetTotalLength(super.Head, 1000);
                break;
            case "headers-split":
                super.Release();
                byte[] bytes = spec.Build();
                super = SegmentSpecRenting.RentBytes(pool, bytes, 30, validate: false);
                super.Gso = new GsoOptions { Type = GsoType.TcpV4, MaxSegmentSize = 1000 };
                break;
            case "csum-start":
                super.Gso.ChecksumStart = 24;
                break;
            case "not-tcp":
                super.Head[9] = 17;
                break;
            case "fragment":
                Ipv4Header.SetFragment(super.Head, false, true, 0);
                break;
            case "data-offset":
                super.Head[20 + 12] = 0x30; // data offset 3
                break;
        }
        Assert.False(GsoSegmenter.TryGetSegmentCount(super, out int count, out GsoError error));
        Assert.Equal(expected, error);
        Assert.Equal(0, count);
        Assert.Equal(0, GsoSegmenter.SegmentCount(super));
        var output = new PacketBuffer[4];
        Assert.False(GsoSegmenter.TrySplit(super, pool, output, out _, out error));
        Assert.Equal(expected, error);
        Assert.Equal(0, GsoSegmenter.WriteSegment(super, 0, new byte[2000]));
        super.Release();
    }

    [Fact]
    public void BadIndexOrShortDestination_IsRefused()
    {
        using var pool = new Support.LeakCheckedPool();
        PacketBuffer super = SuperSegment(pool, new SegmentSpec { Payload = SegmentSpec.Data(3000) }, 1000, 3000);
        Assert.False(GsoSegmenter.TryWriteSegment(super, 3, new byte[2000], out _, out GsoError error));
        Assert.Equal(GsoError.IndexOutOfRange, error);
        Assert.False(GsoSegmenter.TryWriteSegment(super, -1, new byte[2000], out _, out error));
        Assert.Equal(GsoError.IndexOutOfRange, error);
        Assert.False(GsoSegmenter.TryWriteSegment(super, 0, new byte[100], out _, out error));
        Assert.Equal(GsoError.DestinationTooSmall, error);
        Assert.False(GsoSegmenter.TrySplit(super, pool, new PacketBuffer[2], out _, out error));
        Assert.Equal(GsoError.DestinationTooSmall, error);
        super.Release();
    }
}
