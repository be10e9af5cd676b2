// Ipv4Fragmenter (RFC 791 §3.2): exact headers, refusals, options by copied flag, by-reference payload, and
// the round trip through FragmentReassembler.
using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class Ipv4FragmenterTests
{
    private static void ReleaseAll(Span<PacketBuffer> fragments)
    {
        foreach (PacketBuffer f in fragments)
        {
            f.Release();
        }
    }

    [Fact]
    public void Rfc791_1500BytesAt576_GivesThreeFragmentsWithExactHeaders()
    {
        using var pool = new LeakCheckedPool();
        byte[] datagram = Frag.Ipv4Datagram(1472); // 1500 bytes
        using PacketBuffer packet = pool.Pool.RentCopy(datagram);
        var output = new PacketBuffer[8];
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, Ipv4Fragmenter.Fragment(packet, 576, output, out int count));
        Assert.Equal(3, count);
        int[] expectedData = [552, 552, 376];
        int offset = 0;
        for (int i = 0; i < count; i++)
        {
            byte[] f = output[i].ToArray();
            Assert.True(Ipv4Header.TryCreate(f, out Ipv4Header ip, out _));
            Assert.Equal(20 + expectedData[i], ip.TotalLength);
            Assert.True(ip.TotalLength <= 576);
            Assert.Equal(offset, ip.FragmentOffset);
            Assert.Equal(i < 2, ip.MoreFragments);
            Assert.False(ip.DontFragment);
            Assert.True(ip.VerifyChecksum());
            Assert.Equal(0x1234, ip.Identification);
            Assert.Equal(datagram.AsSpan(20 + offset, expectedData[i]).ToArray(), ip.Payload.ToArray());
            Assert.Equal(NetworkProtocol.IPv4, output[i].NetworkProtocol);
            Assert.Equal(20, output[i].Head.Length); // header only in the head
            offset += expectedData[i];
        }
        ReleaseAll(output.AsSpan(0, count));
    }

    [Fact]
    public void Fragments_ReferenceThePayload_WithoutCopying()
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer packet = pool.Pool.RentCopy(Frag.Ipv4Datagram(1000));
        var output = new PacketBuffer[4];
        Ipv4Fragmenter.Fragment(packet, 600, output, out int count);
        Assert.True(MemoryMarshal.TryGetArray<byte>(packet.GetFragmentMemory(0), out var source));
        for (int i = 0; i < count; i++)
        {
            Assert.True(MemoryMarshal.TryGetArray<byte>(output[i].GetFragmentMemory(1), out var slice));
            Assert.Same(source.Array, slice.Array);
        }
        ReleaseAll(output.AsSpan(0, count));
    }

    [Fact]
    public void Rfc791_DontFragment_IsRefused()
    {
        using var pool = new LeakCheckedPool();
        byte[] datagram = Frag.Ipv4Datagram(1000);
        Ipv4Header.SetFragment(datagram, dontFragment: true, moreFragments: false, 0);
        Ipv4Header.RecomputeChecksum(datagram);
        using PacketBuffer packet = pool.Pool.RentCopy(datagram);
        var output = new PacketBuffer[4];
        Assert.Equal(Ipv4FragmentationStatus.DontFragment, Ipv4Fragmenter.Fragment(packet, 576, output, out int count));
        Assert.Equal(0, count);
        Assert.All(output, Assert.Null);
    }

    [Fact]
    public void Rfc791_MtuBelow68_IsRefused_And68Works()
    {
        using var pool = new LeakCheckedPool();
        byte[] options = new byte[40]; // IHL 15: at MTU 68 the first fragment carries 8 bytes
        options[0] = Ipv4Option.RouterAlert;
        options[1] = 4;
        using PacketBuffer packet = pool.Pool.RentCopy(Frag.Ipv4Datagram(200, options: options));
        var output = new PacketBuffer[64];
        Assert.Equal(Ipv4FragmentationStatus.MtuTooSmall, Ipv4Fragmenter.Fragment(packet, 67, output, out _));
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, Ipv4Fragmenter.Fragment(packet, 68, output, out int count));
        Assert.Equal(68, output[0].Length);
        Assert.Equal(8, output[0].Length - 60);
        Assert.All(output.Take(count), f => Assert.True(f.Length <= 68));
        ReleaseAll(output.AsSpan(0, count));
    }

    [Fact]
    public void FitsMtu_WritesNothing()
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer packet = pool.Pool.RentCopy(Frag.Ipv4Datagram(100));
        var output = new PacketBuffer[4];
        Assert.Equal(Ipv4FragmentationStatus.FitsMtu, Ipv4Fragmenter.Fragment(packet, 1500, output, out int count));
        Assert.Equal(0, count);
    }

    [Fact]
    public void OutputTooSmall_ReportsTheCountNeeded_AndRentsNothing()
    {
        using var pool = new LeakCheckedPool();
        using PacketBuffer packet = pool.Pool.RentCopy(Frag.Ipv4Datagram(1472));
        var output = new PacketBuffer[2];
        long rentals = pool.Pool.Rentals;
        Assert.Equal(Ipv4FragmentationStatus.OutputTooSmall, Ipv4Fragmenter.Fragment(packet, 576, output, out int count));
        Assert.Equal(3, count);
        Assert.Equal(rentals, pool.Pool.Rentals);
    }

    [Theory]
    [InlineData(new byte[] { 0x45, 0, 0, 20 })]
    [InlineData(new byte[] { 0x65, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 })]
    [InlineData(new byte[] { 0x46, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 7, 9, 0, 0 })]
    public void Malformed_IsRefused(byte[] bytes)
    {
        using var pool = new LeakCheckedPool();
        // Pad the packet past the MTU so only the header decides.
        var padded = new byte[200];
        bytes.CopyTo(padded, 0);
        padded[3] = 200;
        if (bytes.Length < 20)
        {
            padded = bytes;
        }
        using PacketBuffer packet = pool.Pool.RentCopy(padded);
        var output = new PacketBuffer[8];
        Assert.Equal(Ipv4FragmentationStatus.Malformed, Ipv4Fragmenter.Fragment(packet, 68, output, out _));
    }

    [Fact]
    public void Rfc791_OnlyCopiedOptions_GoIntoLaterFragments()
    {
        using var pool = new LeakCheckedPool();
        // Router alert (copied) and record route (not copied), then EOL padding: 12 bytes of options.
        byte[] options = [Ipv4Option.RouterAlert, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, Ipv4Option.EndOfList];
        byte[] datagram = Frag.Ipv4Datagram(1000, options: options);
        using PacketBuffer packet = pool.Pool.RentCopy(datagram);
        var output = new PacketBuffer[8];
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, Ipv4Fragmenter.Fragment(packet, 500, output, out int count));
        Assert.Equal(32, output[0].Head.Length);
        Assert.Equal(datagram.AsSpan(20, 12).ToArray(), output[0].Head[20..32].ToArray());
        for (int i = 1; i < count; i++)
        {
            Assert.Equal(24, output[i].Head.Length);
            Assert.Equal(new byte[] { Ipv4Option.RouterAlert, 4, 0, 0 }, output[i].Head[20..24].ToArray());
            Assert.True(Frag.Ipv4ChecksumOk(output[i].Head));
        }
        ReleaseAll(output.AsSpan(0, count));
    }

    [Fact]
    public void Rfc791_AFragmentSplitAgain_KeepsItsOffsetAndMoreFragments()
    {
        using var pool = new LeakCheckedPool();
        byte[] datagram = Frag.Ipv4Datagram(3000);
        byte[] middle = Frag.Ipv4Fragment(datagram, 1480, 1480, more: true);
        using PacketBuffer packet = pool.Pool.RentCopy(middle);
        var output = new PacketBuffer[4];
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, Ipv4Fragmenter.Fragment(packet, 576, output, out int count));
        Assert.Equal(3, count);
        for (int i = 0; i < count; i++)
        {
            Assert.True(Ipv4Header.TryCreate(output[i].ToArray(), out Ipv4Header ip, out _));
            Assert.Equal(1480 + i * 552, ip.FragmentOffset);
            Assert.True(ip.MoreFragments);
        }
        ReleaseAll(output.AsSpan(0, count));
    }

    [Fact]
    public void PayloadInSegments_IsSlicedAcrossThem()
    {
        using var pool = new LeakCheckedPool();
        byte[] datagram = Frag.Ipv4Datagram(2000);
        using PacketBuffer packet = pool.Pool.RentCopy(datagram.AsSpan(0, 100));
        using (PacketBuffer a = pool.Pool.RentCopy(datagram.AsSpan(100, 700)))
        using (PacketBuffer b = pool.Pool.RentCopy(datagram.AsSpan(800)))
        {
            Assert.True(packet.AppendReference(a, 0, a.Length));
            Assert.True(packet.AppendReference(b, 0, b.Length));
        }
        var output = new PacketBuffer[8];
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, Ipv4Fragmenter.Fragment(packet, 576, output, out int count));
        var time = new FakeTimeProvider(Frag.Start);
        using var r = new FragmentReassembler(time);
        ReassemblyResult last = default;
        for (int i = count - 1; i >= 0; i--)
        {
            last = r.Process(output[i]);
        }
        using PacketBuffer result = last.Packet!;
        Assert.Equal(datagram, result.ToArray());
    }

    public sealed record RoundTrip(int PayloadLength, int Mtu, int OptionsKind, int Segments, int Seed);

    private static readonly Gen<RoundTrip> RoundTrips =
        from mtu in Gen.Choose(68, 1500)
        from payload in Gen.Choose(0, 6000)
        from optionsKind in Gen.Choose(0, 2)
        from segments in Gen.Choose(1, 3)
        from seed in Gen.Choose(0, int.MaxValue)
        select new RoundTrip(payload, mtu, optionsKind, segments, seed);

    [Property(MaxTest = 150)]
    public Property FragmentAtAnyMtu_ShuffleAndReassemble_GivesTheOriginal() => Prop.ForAll(Arb.From(RoundTrips), c =>
    {
        using var pool = new LeakCheckedPool();
        byte[]? options = c.OptionsKind switch
        {
            1 => [Ipv4Option.RouterAlert, 4, 0, 0],
            2 => [Ipv4Option.RouterAlert, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, Ipv4Option.EndOfList],
            _ => null,
        };
        int headerLength = 20 + (options?.Length ?? 0);
        // At most 40 fragments: each may span two input segments, and a datagram references at most 128 pieces.
        int perFragment = (c.Mtu - headerLength) & ~7;
        int payload = Math.Min(c.PayloadLength, 40 * perFragment - 8);
        byte[] datagram = Frag.Ipv4Datagram(payload, (ushort)c.Seed, options, c.Seed);
        var random = new Random(c.Seed);

        PacketBuffer packet = pool.Pool.RentCopy(datagram.AsSpan(0, Math.Min(datagram.Length, headerLength + random.Next(0, 64))));
        int position = packet.Length;
        for (int s = 1; s < c.Segments && position < datagram.Length; s++)
        {
            int take = random.Next(1, datagram.Length - position + 1);
            using PacketBuffer piece = pool.Pool.RentCopy(datagram.AsSpan(position, take));
            Assert.True(packet.AppendReference(piece, 0, take));
            position += take;
        }
        if (position < datagram.Length)
        {
            using PacketBuffer rest = pool.Pool.RentCopy(datagram.AsSpan(position));
            Assert.True(packet.AppendReference(rest, 0, rest.Length));
        }

        var output = new PacketBuffer[64];
        Ipv4FragmentationStatus status = Ipv4Fragmenter.Fragment(packet, c.Mtu, output, out int count);
        packet.Release(); // the fragments hold their own references
        if (datagram.Length <= c.Mtu)
        {
            Assert.Equal(Ipv4FragmentationStatus.FitsMtu, status);
            return;
        }
        Assert.Equal(Ipv4FragmentationStatus.Fragmented, status);
        var fragments = output.Take(count).ToList();
        foreach (PacketBuffer f in fragments)
        {
            Assert.True(f.Length <= c.Mtu);
            Assert.True(Frag.Ipv4ChecksumOk(f.Head));
        }
        Frag.Shuffle(random, fragments);
        using var r = new FragmentReassembler(new FakeTimeProvider(Frag.Start));
        var done = new List<byte[]>();
        foreach (PacketBuffer f in fragments)
        {
            ReassemblyResult result = r.Process(f);
            if (result.Packet is { } p)
            {
                done.Add(p.ToArray());
                p.Release();
            }
        }
        Assert.Equal(datagram, Assert.Single(done));
    });
}
