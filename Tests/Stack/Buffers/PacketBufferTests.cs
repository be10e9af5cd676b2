using NetStack.Buffers;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Buffers;

public class PacketBufferTests
{
    private static byte[] Bytes(int n, int seed = 1)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void Rent_StartsEmpty_WithRequestedHeadroomAndTailroom()
    {
        using var pool = new LeakCheckedPool();
        using var p = pool.Pool.Rent(1500, headroom: 64);
        Assert.Equal(0, p.Length);
        Assert.Equal(64, p.Headroom);
        Assert.True(p.Tailroom >= 1500);
        Assert.Equal(1, p.ReferenceCount);
        Assert.Equal(1, p.FragmentCount);
        Assert.Equal(1, p.SegmentsRepresented);
        Assert.False(p.RxChecksumValidated);
    }

    [Fact]
    public void AppendThenPrepend_BuildsHeadersInFrontWithoutCopy()
    {
        using var pool = new LeakCheckedPool();
        using var p = pool.Pool.Rent(100, headroom: 40);
        byte[] payload = Bytes(100);
        payload.CopyTo(p.Append(100));
        p.Prepend(20).Fill(0x45);
        p.Prepend(20).Fill(0x60);
        Assert.Equal(140, p.Length);
        Assert.Equal(0, p.Headroom);
        byte[] all = p.ToArray();
        Assert.All(all[..20], b => Assert.Equal(0x60, b));
        Assert.All(all[20..40], b => Assert.Equal(0x45, b));
        Assert.Equal(payload, all[40..]);
        Assert.Throws<InvalidOperationException>(() => p.Prepend(1));
    }

    [Fact]
    public void TailroomSpan_ThenAppend_IsHowAnEdgeReads()
    {
        using var pool = new LeakCheckedPool();
        using var p = pool.Pool.Rent(2000);
        byte[] wire = Bytes(1500);
        wire.CopyTo(p.TailroomSpan);
        p.Append(1500);
        Assert.Equal(wire, p.ToArray());
    }

    [Fact]
    public void AppendReference_CoalescesWithoutCopyingAndHoldsChunks()
    {
        using var pool = new LeakCheckedPool();
        byte[] a = Bytes(1000, 1), b = Bytes(1448, 2), c = Bytes(1448, 3);
        var pa = pool.Pool.RentCopy(a);
        var pb = pool.Pool.RentCopy(b);
        var pc = pool.Pool.RentCopy(c);
        Assert.True(pa.AppendReference(pb, 40, b.Length - 40));
        Assert.True(pa.AppendReference(pc, 40, c.Length - 40));
        Assert.Equal(3, pa.FragmentCount);

        // Same memory, not a copy: writing through the source shows in the coalesced packet.
        pb.Head[40] ^= 0xFF;
        Assert.Equal(pb.Head[40], pa.GetFragment(1)[0]);
        pb.Head[40] ^= 0xFF;

        pb.Release();
        pc.Release();
        Assert.Equal(1, pool.Pool.LiveBuffers);
        Assert.Equal(3, pool.Pool.LiveChunks); // chunks of pb and pc live on through pa's references

        byte[] expected = [.. a, .. b[40..], .. c[40..]];
        Assert.Equal(expected, pa.ToArray());
        pa.Release();
    }

    [Fact]
    public void AppendReference_FromMultiSegmentSource_SlicesAcrossPieces()
    {
        using var pool = new LeakCheckedPool();
        byte[] h = Bytes(50, 4), x = Bytes(300, 5), y = Bytes(300, 6);
        using var src = pool.Pool.RentCopy(h);
        using var px = pool.Pool.RentCopy(x);
        using var py = pool.Pool.RentCopy(y);
        src.AppendReference(px, 0, 300);
        src.AppendReference(py, 0, 300);
        byte[] flat = src.ToArray();

        using var dst = pool.Pool.Rent(0);
        Assert.True(dst.AppendReference(src, 25, 500));
        Assert.Equal(flat.AsSpan(25, 500).ToArray(), dst.ToArray());
        Assert.Equal(4, dst.FragmentCount); // empty head + three pieces touched

        var part = new byte[200];
        src.CopyTo(320, part);
        Assert.Equal(flat.AsSpan(320, 200).ToArray(), part);
    }

    [Fact]
    public void AppendReference_RefusesPastMaxSegments_AndChangesNothing()
    {
        using var pool = new LeakCheckedPool();
        using var small = pool.Pool.RentCopy(Bytes(10));
        using var p = pool.Pool.Rent(0);
        for (int i = 0; i < PacketBuffer.MaxPayloadSegments; i++)
        {
            Assert.True(p.AppendReference(small, 0, 1));
        }
        int before = p.Length;
        Assert.False(p.AppendReference(small, 0, 1));
        Assert.Equal(before, p.Length);
    }

    [Fact]
    public void TrimFront_AndTrimTo_CrossSegmentBoundaries()
    {
        using var pool = new LeakCheckedPool();
        byte[] h = Bytes(60, 7), x = Bytes(100, 8), y = Bytes(100, 9);
        using var p = pool.Pool.RentCopy(h);
        using (var px = pool.Pool.RentCopy(x)) { p.AppendReference(px, 0, 100); }
        using (var py = pool.Pool.RentCopy(y)) { p.AppendReference(py, 0, 100); }
        byte[] flat = p.ToArray();

        p.TrimFront(80); // all of the head and 20 bytes of the first segment
        Assert.Equal(flat[80..], p.ToArray());
        Assert.Equal(3, pool.Pool.LiveChunks);

        p.TrimFront(80); // the rest of the first segment: its chunk goes back
        Assert.Equal(flat[160..], p.ToArray());
        Assert.Equal(2, pool.Pool.LiveChunks);

        p.TrimTo(30);
        Assert.Equal(flat[160..190], p.ToArray());
        p.TrimTo(0);
        Assert.Equal(0, p.Length);
        Assert.Equal(1, pool.Pool.LiveChunks);
    }

    [Fact]
    public void TrimTo_DropsLinkPaddingInHead()
    {
        using var pool = new LeakCheckedPool();
        using var p = pool.Pool.RentCopy(Bytes(60));
        p.TrimTo(46);
        Assert.Equal(46, p.Length);
        Assert.Equal(46, p.Head.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => p.TrimTo(47));
    }

    [Fact]
    public void ReferenceCounting_LastReleaseReturnsToPool()
    {
        using var pool = new LeakCheckedPool();
        var p = pool.Pool.Rent(64);
        Assert.Same(p, p.AddRef());
        Assert.Equal(2, p.ReferenceCount);
        p.Release();
        Assert.Equal(1, pool.Pool.LiveBuffers);
        _ = p.Length; // still alive
        p.Release();
        Assert.Equal(0, pool.Pool.LiveBuffers);
        Assert.Equal(1, pool.Pool.Returns);
    }

    [Fact]
    public void DebugMode_DoubleRelease_ThrowsWithRentalSite()
    {
        using var pool = new LeakCheckedPool();
        var p = pool.Pool.Rent(64);
        p.Release();
        var ex = Assert.Throws<InvalidOperationException>(p.Release);
        Assert.Contains("released twice", ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(DebugMode_DoubleRelease_ThrowsWithRentalSite), ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DebugMode_UseAfterRelease_ThrowsWithRentalSite()
    {
        using var pool = new LeakCheckedPool();
        var p = pool.Pool.Rent(64);
        p.Release();
        var ex = Assert.Throws<ObjectDisposedException>(() => p.Head.Length);
        Assert.Contains(nameof(DebugMode_UseAfterRelease_ThrowsWithRentalSite), ex.Message, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => p.AddRef());
    }

    [Fact]
    public void ReleaseModePool_RecyclesObjectsAndChunks_WithoutMisses()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "recycle");
        for (int i = 0; i < 1000; i++)
        {
            var p = pool.Rent(1500);
            p.Append(1500);
            p.Release();
        }
        Assert.Equal(1, pool.Misses);
        Assert.Equal(1000, pool.Rentals);
        Assert.Equal(1000, pool.Returns);
        Assert.Equal(0, pool.LiveBuffers);
    }

    [Fact]
    public void SizeClasses_PickSmallestFit_AndOversizeIsUnpooled()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions { SizeClasses = [256, 4096], MaxRetained = [4, 4] }, "classes");
        using (var p = pool.Rent(100, 0)) { Assert.Equal(256, p.Tailroom); }
        using (var p = pool.Rent(300, 0)) { Assert.Equal(4096, p.Tailroom); }
        using (var p = pool.Rent(5000, 0)) { Assert.Equal(5000, p.Tailroom); }
        Assert.Equal(3, pool.Misses);
        Assert.Equal(1, pool.Discards); // the oversize chunk is not retained
        using (var p = pool.Rent(100, 0)) { }
        Assert.Equal(3, pool.Misses);
    }

    [Fact]
    public void Cap_ExcessReturnsAreDiscardedNotHoarded()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions { SizeClasses = [2048], MaxRetained = [2] }, "cap");
        var held = Enumerable.Range(0, 5).Select(_ => pool.Rent(100)).ToList();
        held.ForEach(p => p.Release());
        Assert.Equal(3, pool.Discards);
        Assert.Equal(0, pool.LiveChunks);
    }

    [Fact]
    public void Metadata_IsResetOnRent()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "meta");
        var p = pool.Rent(10);
        p.RxChecksumValidated = true;
        p.NetworkProtocol = NetStack.Wire.NetworkProtocol.IPv6;
        p.Gso = new GsoOptions { Type = GsoType.TcpV6, MaxSegmentSize = 1440 };
        p.SegmentsRepresented = 9;
        p.Release();
        var q = pool.Rent(10);
        Assert.Same(p, q); // recycled object
        Assert.False(q.RxChecksumValidated);
        Assert.Equal(NetStack.Wire.NetworkProtocol.None, q.NetworkProtocol);
        Assert.Equal(default, q.Gso);
        Assert.Equal(1, q.SegmentsRepresented);
        q.Release();
    }

    [Fact]
    public async Task ConcurrentRentReturnAndSharedReferences_LeaveNothingLive()
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions { SizeClasses = [2048, 65536 + 1024], MaxRetained = [64, 8] }, "stress");
        const int Threads = 4, Iterations = 20_000;
        var shared = new System.Collections.Concurrent.ConcurrentQueue<PacketBuffer>();
        var tasks = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            var rng = new Random(t);
            for (int i = 0; i < Iterations; i++)
            {
                var p = pool.Rent(rng.Next(2) == 0 ? 1500 : 60000);
                p.Append(10).Fill((byte)t);
                if (rng.Next(4) == 0)
                {
                    shared.Enqueue(p.AddRef()); // another thread drops this reference
                }
                if (shared.TryDequeue(out var other))
                {
                    other.Release();
                }
                Assert.Equal((byte)t, p.Head[0]);
                p.Release();
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        while (shared.TryDequeue(out var rest))
        {
            rest.Release();
        }
        Assert.Equal(0, pool.LiveBuffers);
        Assert.Equal(0, pool.LiveChunks);
        Assert.Equal(Threads * Iterations, pool.Rentals);
    }
}
