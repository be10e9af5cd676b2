// Exact-packet tests of IPv4 reassembly (RFC 791 §3.2) and of the policies FragmentReassembler documents.
using System.Runtime.InteropServices;
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class ReassemblyIpv4Tests
{
    private static (FakeTimeProvider Time, FragmentReassembler Reassembler) Make(ReassemblyOptions? options = null, FragmentErrorHandler? handler = null)
    {
        var time = new FakeTimeProvider(Frag.Start);
        return (time, new FragmentReassembler(time, options, handler));
    }

    private static ReassemblyResult Send(FragmentReassembler r, PacketBufferPool pool, byte[] fragment) => r.Process(pool.RentCopy(fragment));

    [Fact]
    public void Rfc791_InOrder_ReassemblesToTheOriginalDatagram()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(1000);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, 400, 400);

        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[0])).Status);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[1])).Status);
        Assert.Equal(1, r.DatagramsInFlight);
        Assert.Equal(2, r.FragmentsHeld);
        ReassemblyResult result = Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[2]));

        Assert.Equal(ReassemblyStatus.Completed, result.Status);
        using PacketBuffer packet = result.Packet!;
        Assert.Equal(datagram, packet.ToArray());
        Assert.Equal(NetworkProtocol.IPv4, packet.NetworkProtocol);
        Assert.False(packet.RxChecksumValidated);
        Assert.Equal(20, packet.Head.Length); // head holds only the header; payload by reference
        Assert.Equal(4, packet.FragmentCount);
        Assert.True(Frag.Ipv4ChecksumOk(packet.Head));
        Assert.Equal(0, r.DatagramsInFlight);
        Assert.Equal(0, r.FragmentsHeld);
        Assert.Equal(0, r.BytesHeld);
        Assert.Equal(1, r.Events[ReassemblyEvent.DatagramCompleted]);
        Assert.Equal(0, r.Drops.Total);
    }

    [Fact]
    public void Rfc791_ReverseOrder_Reassembles()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(3000, seed: 7);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, 1000, 1000);
        List<byte[]> done = Frag.Feed(r, pool, cuts.Reverse().Select(c => Frag.Ipv4Fragment(datagram, c)));
        Assert.Equal(datagram, Assert.Single(done));
    }

    [Fact]
    public void Reassembly_ReferencesFragmentPayload_WithoutCopying()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, 64);
        PacketBuffer second = pool.Pool.RentCopy(Frag.Ipv4Fragment(datagram, cuts[1]));
        second.AddRef(); // keep it alive to compare memory
        Assert.Equal(ReassemblyStatus.Held, r.Process(second).Status);
        ReassemblyResult result = Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[0]));
        using PacketBuffer packet = result.Packet!;
        Assert.True(MemoryMarshal.TryGetArray<byte>(second.GetFragmentMemory(0), out var source));
        Assert.True(MemoryMarshal.TryGetArray<byte>(packet.GetFragmentMemory(2), out var target));
        Assert.Same(source.Array, target.Array);
        Assert.Equal(source.Offset + 20, target.Offset);
        second.Release();
    }

    [Fact]
    public void FragmentWithPayloadInSegments_IsParsedAndReassembled()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(200);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, 104);
        byte[] first = Frag.Ipv4Fragment(datagram, cuts[0]);
        // The first fragment as a 20-byte head plus its data appended by reference from another buffer.
        PacketBuffer split = pool.Pool.RentCopy(first.AsSpan(0, 20));
        using (PacketBuffer data = pool.Pool.RentCopy(first.AsSpan(20)))
        {
            Assert.True(split.AppendReference(data, 0, data.Length));
        }
        Assert.Equal(ReassemblyStatus.Held, r.Process(split).Status);
        ReassemblyResult result = Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[1]));
        using PacketBuffer packet = result.Packet!;
        Assert.Equal(datagram, packet.ToArray());
    }

    [Fact]
    public void Rfc8200_4_5_ExactDuplicate_IsDroppedAlone_AndTheDatagramCompletes()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(500);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, 256);
        Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[0]));
        ReassemblyResult dup = Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[0]));
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.Duplicate), dup);
        ReassemblyResult result = Send(r, pool, Frag.Ipv4Fragment(datagram, cuts[1]));
        using PacketBuffer packet = result.Packet!;
        Assert.Equal(datagram, packet.ToArray());
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Duplicate]);
    }

    [Fact]
    public void Rfc5722_Overlap_DiscardsTheDatagram_AndLaterFragmentsAreDropped()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(200);
        int length = datagram.Length - 20; // 208
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 64, true)).Status);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, 64, 64, true)).Status);
        // Overlaps [64,128) by 8 bytes: the whole datagram goes.
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.Overlap), Send(r, pool, Frag.Ipv4Fragment(datagram, 120, 16, true)));
        Assert.Equal(0, r.DatagramsInFlight);
        Assert.Equal(3, r.Drops[ReassemblyDropReason.Overlap]);
        Assert.Equal(1, r.QuarantinedKeys);

        // The rest of that datagram is dropped, even a set that would now complete it.
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.Quarantined), Send(r, pool, Frag.Ipv4Fragment(datagram, 128, length - 128, false)));
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.Quarantined), Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 128, true)));
        Assert.Equal(0, r.DatagramsInFlight);

        // After the quarantine (the IPv4 timeout by default) the key is usable again.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, r.ExpireDue());
        Assert.Equal(0, r.QuarantinedKeys);
        List<byte[]> done = Frag.Feed(r, pool, [Frag.Ipv4Fragment(datagram, 0, 128, true), Frag.Ipv4Fragment(datagram, 128, length - 128, false)]);
        Assert.Equal(datagram, Assert.Single(done));
    }

    [Fact]
    public void Rfc5722_FragmentInsideAnother_IsAnOverlap()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(200);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 64, true));
        Assert.Equal(ReassemblyDropReason.Overlap, Send(r, pool, Frag.Ipv4Fragment(datagram, 8, 16, true)).DropReason);
        Assert.Equal(0, r.FragmentsHeld);
    }

    [Fact]
    public void Rfc1858_TinyOverlappingTcpFragment_IsDiscarded()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100, protocol: IpProtocol.Tcp);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 24, true));
        // Offset 1 (8 bytes) rewriting the TCP flags: an overlap.
        Assert.Equal(ReassemblyDropReason.Overlap, Send(r, pool, Frag.Ipv4Fragment(datagram, 8, datagram.Length - 28, false)).DropReason);
    }

    [Fact]
    public void Rfc792_Timeout_FreesEverything_AndReportsTheFirstFragment()
    {
        using var pool = new LeakCheckedPool();
        byte[]? reported = null;
        ReassemblyDropReason reportedReason = default;
        var (time, r) = Make(handler: (packet, reason) =>
        {
            Assert.True(packet.ReferenceCount >= 1); // borrowed, alive during the call
            reported = packet.ToArray();
            reportedReason = reason;
        });
        byte[] datagram = Frag.Ipv4Datagram(300);
        byte[] first = Frag.Ipv4Fragment(datagram, 0, 160, true);
        Send(r, pool, first);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 160, 64, true));

        time.Advance(TimeSpan.FromSeconds(29.9));
        Assert.Equal(0, r.ExpireDue());
        Assert.Equal(2, r.FragmentsHeld);
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Equal(1, r.ExpireDue());

        Assert.Equal(first, reported);
        Assert.Equal(ReassemblyDropReason.Timeout, reportedReason);
        Assert.Equal(2, r.Drops[ReassemblyDropReason.Timeout]);
        Assert.Equal(0, r.BytesHeld);
        Assert.Equal(0, r.DatagramsInFlight);
        pool.AssertNoLeaks();
    }

    [Fact]
    public void Rfc792_Timeout_WithoutTheFirstFragment_IsNotReported()
    {
        using var pool = new LeakCheckedPool();
        int calls = 0;
        var (time, r) = Make(handler: (_, _) => calls++);
        byte[] datagram = Frag.Ipv4Datagram(300);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 160, 64, true));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, r.ExpireDue());
        Assert.Equal(0, calls);
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Timeout]);
    }

    [Fact]
    public void Timeout_IsAlsoCheckedLazilyOnProcess()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make();
        byte[] a = Frag.Ipv4Datagram(300, id: 1);
        byte[] b = Frag.Ipv4Datagram(300, id: 2);
        Send(r, pool, Frag.Ipv4Fragment(a, 0, 160, true));
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(b, 0, 160, true)).Status);
        Assert.Equal(1, r.DatagramsInFlight);
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Timeout]);
        // The rest of the expired datagram starts a new context rather than completing a dead one.
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(a, 160, a.Length - 180, false)).Status);
        r.Dispose();
        Assert.Equal(2, r.Drops[ReassemblyDropReason.Shutdown]);
    }

    [Fact]
    public void Rfc791_DontFragmentOnAFragment_IsFine()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        datagram[6] |= 0x40;
        Ipv4Header.RecomputeChecksum(datagram);
        List<byte[]> done = Frag.Feed(r, pool, Frag.Cuts(datagram.Length - 20, 56).Select(c => Frag.Ipv4Fragment(datagram, c)));
        Assert.Equal(datagram, Assert.Single(done));
    }

    [Fact]
    public void MiddleFragment_NotMultipleOf8_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.NotMultipleOf8), Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 60, true)));
        Assert.Equal(0, r.DatagramsInFlight);
    }

    [Fact]
    public void Rfc791_DatagramOver65535_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        byte[] fragment = Frag.Ipv4Fragment(datagram, 0, 16, false);
        Ipv4Header.SetFragment(fragment, false, false, Ipv4Header.MaxFragmentOffset); // 65528 + 16 + 20 > 65535
        Ipv4Header.RecomputeChecksum(fragment);
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.TooLong), Send(r, pool, fragment));
    }

    [Fact]
    public void Rfc791_FirstHeaderLongerThanOthers_Over65535_IsDroppedAtCompletion()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        // Later fragments with a 20-byte header reach 65512 bytes of data; a first fragment with 40 bytes of
        // options then makes the datagram 65552 bytes long.
        var options = new byte[40];
        options.AsSpan().Fill(Ipv4Option.NoOperation);
        byte[] small = Frag.Ipv4Datagram(65512 - 8);
        byte[] large = Frag.Ipv4Datagram(65512 - 8 - 40, options: options);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(small, 8, 65504, false)).Status);
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.TooLong), Send(r, pool, Frag.Ipv4Fragment(large, 0, 8, true)));
        Assert.Equal(2, r.Drops[ReassemblyDropReason.TooLong]);
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void FirstFragmentOptions_AreKeptInTheReassembledHeader()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] options = [Ipv4Option.RouterAlert, 4, 0, 0]; // copied flag set (RFC 2113)
        byte[] datagram = Frag.Ipv4Datagram(300, options: options);
        List<byte[]> done = Frag.Feed(r, pool, Frag.Cuts(datagram.Length - 24, 96, 96).Select(c => Frag.Ipv4Fragment(datagram, c)).Reverse());
        byte[] result = Assert.Single(done);
        Assert.Equal(datagram, result);
        Assert.True(Frag.Ipv4ChecksumOk(result));
    }

    [Fact]
    public void TwoLastFragments_WithDifferentEnds_AreInconsistent()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(300);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 64, 64, false));
        Assert.Equal(ReassemblyDropReason.Inconsistent, Send(r, pool, Frag.Ipv4Fragment(datagram, 128, 64, false)).DropReason);
        Assert.Equal(0, r.FragmentsHeld);
        Assert.Equal(ReassemblyDropReason.Quarantined, Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 64, true)).DropReason);
    }

    [Fact]
    public void DataPastTheLastFragment_IsInconsistent()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(300);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 64, 64, false));
        Assert.Equal(ReassemblyDropReason.Inconsistent, Send(r, pool, Frag.Ipv4Fragment(datagram, 128, 64, true)).DropReason);
    }

    [Fact]
    public void NotAFragment_PassesThroughUnchanged()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        PacketBuffer input = pool.Pool.RentCopy(datagram);
        ReassemblyResult result = r.Process(input);
        Assert.Equal(ReassemblyStatus.Completed, result.Status);
        Assert.Same(input, result.Packet);
        Assert.Equal(NetworkProtocol.IPv4, input.NetworkProtocol);
        input.Release();
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x45, 0, 0, 10 })]
    [InlineData(new byte[] { 0x75, 0, 0, 20, 0, 0, 0x20, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 })]
    [InlineData(new byte[] { 0x4F, 0, 0, 20, 0, 0, 0x20, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 })]
    public void Garbage_IsDroppedAsMalformed(byte[] bytes)
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.Malformed), Send(r, pool, bytes));
    }

    [Fact]
    public void EmptyFragment_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] datagram = Frag.Ipv4Datagram(100);
        Assert.Equal(ReassemblyDropReason.EmptyFragment, Send(r, pool, Frag.Ipv4Fragment(datagram, 64, 0, true)).DropReason);
    }

    [Fact]
    public void Limit_FragmentsPerDatagram_DiscardsTheDatagram()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make(new ReassemblyOptions { MaxFragmentsPerDatagram = 3 });
        byte[] datagram = Frag.Ipv4Datagram(200);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, i * 16, 16, true)).Status);
        }
        Assert.Equal(ReassemblyDropReason.TooManyFragments, Send(r, pool, Frag.Ipv4Fragment(datagram, 48, 16, true)).DropReason);
        Assert.Equal(4, r.Drops[ReassemblyDropReason.TooManyFragments]);
        Assert.Equal(0, r.DatagramsInFlight);
    }

    [Fact]
    public void Limit_Datagrams_EvictsTheOldest()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make(new ReassemblyOptions { MaxDatagrams = 2 });
        byte[][] datagrams = [Frag.Ipv4Datagram(100, id: 1), Frag.Ipv4Datagram(100, id: 2), Frag.Ipv4Datagram(100, id: 3)];
        foreach (byte[] d in datagrams)
        {
            Send(r, pool, Frag.Ipv4Fragment(d, 0, 64, true));
            time.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(2, r.DatagramsInFlight);
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Evicted]);
        // id 1 was evicted: its last fragment starts a new context; ids 2 and 3 complete.
        Assert.Equal(ReassemblyStatus.Completed, Complete(datagrams[2]));
        Assert.Equal(ReassemblyStatus.Completed, Complete(datagrams[1]));
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagrams[0], 64, datagrams[0].Length - 84, false)).Status);
        r.Dispose();

        ReassemblyStatus Complete(byte[] d)
        {
            ReassemblyResult result = Send(r, pool, Frag.Ipv4Fragment(d, 64, d.Length - 84, false));
            result.Packet?.Release();
            return result.Status;
        }
    }

    [Fact]
    public void Limit_Bytes_EvictsTheOldest_AndCountsPooledMemory()
    {
        using var pool = new LeakCheckedPool();
        long oneFragment;
        using (PacketBuffer probe = pool.Pool.RentCopy(new byte[60]))
        {
            oneFragment = FragmentReassembler.MemoryCost(probe);
        }
        Assert.True(oneFragment >= 2048); // a 2 KiB chunk, not 40 bytes of payload
        var (time, r) = Make(new ReassemblyOptions { MaxBytes = oneFragment * 3 });
        for (ushort id = 1; id <= 4; id++)
        {
            Send(r, pool, Frag.Ipv4Fragment(Frag.Ipv4Datagram(100, id: id), 0, 40, true));
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(r.BytesHeld <= r.Options.MaxBytes);
        }
        Assert.Equal(3, r.DatagramsInFlight);
        Assert.Equal(oneFragment * 3, r.BytesHeld);
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Evicted]);
        r.Dispose();
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void Limit_Bytes_AFragmentLargerThanTheLimit_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make(new ReassemblyOptions { MaxBytes = 1000 });
        Assert.Equal(ReassemblyDropReason.MemoryLimit, Send(r, pool, Frag.Ipv4Fragment(Frag.Ipv4Datagram(100), 0, 40, true)).DropReason);
        Assert.Equal(0, r.DatagramsInFlight);
    }

    [Fact]
    public void Limit_Bytes_ADatagramThatCannotFit_IsDiscarded()
    {
        using var pool = new LeakCheckedPool();
        long cost;
        using (PacketBuffer probe = pool.Pool.RentCopy(new byte[60]))
        {
            cost = FragmentReassembler.MemoryCost(probe);
        }
        var (_, r) = Make(new ReassemblyOptions { MaxBytes = cost * 2 });
        byte[] datagram = Frag.Ipv4Datagram(200);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 40, true));
        Send(r, pool, Frag.Ipv4Fragment(datagram, 40, 40, true));
        Assert.Equal(ReassemblyDropReason.MemoryLimit, Send(r, pool, Frag.Ipv4Fragment(datagram, 80, 40, true)).DropReason);
        Assert.Equal(3, r.Drops[ReassemblyDropReason.MemoryLimit]);
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void Limit_PayloadSegments_DropsTheDatagram()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make(new ReassemblyOptions { MaxFragmentsPerDatagram = 200 });
        byte[] datagram = Frag.Ipv4Datagram(130 * 8 - 8);
        Cut[] cuts = Frag.Cuts(datagram.Length - 20, Enumerable.Repeat(8, 130).ToArray());
        Assert.Equal(130, cuts.Length);
        ReassemblyResult last = default;
        foreach (Cut c in cuts)
        {
            last = Send(r, pool, Frag.Ipv4Fragment(datagram, c));
        }
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.SegmentLimit), last);
        Assert.Equal(130, r.Drops[ReassemblyDropReason.SegmentLimit]);
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void Dispose_ReleasesEverything_AndLaterPacketsAreDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Send(r, pool, Frag.Ipv4Fragment(Frag.Ipv4Datagram(100), 0, 40, true));
        r.Dispose();
        Assert.Equal(ReassemblyDropReason.Shutdown, Send(r, pool, Frag.Ipv4Fragment(Frag.Ipv4Datagram(100), 0, 40, true)).DropReason);
        Assert.Equal(2, r.Drops[ReassemblyDropReason.Shutdown]);
    }
    [Fact]
    public void QuarantineTimeZero_DiscardsOnOverlapWithoutRememberingTheKey()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make(new ReassemblyOptions { QuarantineTime = TimeSpan.Zero });
        byte[] datagram = Frag.Ipv4Datagram(200);
        Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 64, true));
        Assert.Equal(ReassemblyDropReason.Overlap, Send(r, pool, Frag.Ipv4Fragment(datagram, 32, 64, true)).DropReason);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv4Fragment(datagram, 0, 64, true)).Status);
        r.Dispose();
    }

    [Fact]
    public void BadOptions_AreRefusedAtConstruction()
    {
        var time = new FakeTimeProvider(Frag.Start);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(time, new ReassemblyOptions { MaxBytes = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(time, new ReassemblyOptions { MaxDatagrams = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(time, new ReassemblyOptions { MaxFragmentsPerDatagram = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(time, new ReassemblyOptions { Ipv4Timeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FragmentReassembler(time, new ReassemblyOptions { QuarantineTime = TimeSpan.FromSeconds(-1) }));
    }
}
