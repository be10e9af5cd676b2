using NetStack.Buffers;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The receive queue on its own: in-order bytes, the out-of-order queue (overlaps trimmed, holes filled), its
/// SACK blocks (RFC 2018 §4, D-SACK first per RFC 2883 §4), its limit, and the reader's pieces.
/// </summary>
public class ReceiveQueueTests
{
    private static readonly SequenceNumber Nxt = 5000;

    /// <summary>A packet whose payload at offset 10 is <paramref name="length"/> bytes numbered from <paramref name="seq"/>.</summary>
    private static PacketBuffer Payload(LeakCheckedPool pool, SequenceNumber seq, int length)
    {
        byte[] bytes = new byte[10 + length];
        for (int i = 0; i < length; i++)
        {
            bytes[10 + i] = (byte)(seq.Value + (uint)i);
        }
        return pool.Pool.RentCopy(bytes);
    }

    /// <summary>Adds a segment as the connection does (the queue takes its own references) and releases ours.</summary>
    private static SequenceNumber Add(ReceiveQueue queue, LeakCheckedPool pool, SequenceNumber rcvNxt, SequenceNumber seq, int length, out bool accepted, int max = 16)
    {
        using PacketBuffer packet = Payload(pool, seq, length);
        return queue.Add(rcvNxt, seq, packet, 10, length, max, out accepted);
    }

    private static byte[] ReadAll(ReceiveQueue queue)
    {
        var pieces = new RxPiece[64];
        int total = queue.Take(pieces, int.MaxValue, out int count);
        byte[] result = new byte[total];
        int at = 0;
        for (int i = 0; i < count; i++)
        {
            pieces[i].Packet.CopyTo(pieces[i].Offset, result.AsSpan(at, pieces[i].Length));
            at += pieces[i].Length;
            pieces[i].Packet.Release();
        }
        return result;
    }

    private static void AssertNumbered(byte[] bytes, SequenceNumber from)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            Assert.Equal((byte)(from.Value + (uint)i), bytes[i]);
        }
    }

    [Fact]
    public void Add_InOrder_AdvancesRcvNxtAndIsReadable()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        SequenceNumber next = Add(queue, pool, Nxt, Nxt, 100, out bool accepted);
        Assert.True(accepted);
        Assert.Equal(Nxt + 100, next);
        Assert.Equal(100, queue.ReadyBytes);
        AssertNumbered(ReadAll(queue), Nxt);
        Assert.Equal(0, queue.ReadyBytes);
    }

    [Fact]
    public void Add_FillingAHole_PullsTheOutOfOrderDataIn()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Assert.Equal(Nxt, Add(queue, pool, Nxt, Nxt + 100, 100, out _));
        Assert.Equal(Nxt, Add(queue, pool, Nxt, Nxt + 300, 100, out _));
        Assert.Equal(2, queue.OutOfOrderCount);
        Assert.Equal(0, queue.ReadyBytes);
        SequenceNumber next = Add(queue, pool, Nxt, Nxt, 100, out _);
        Assert.Equal(Nxt + 200, next); // the second hole stays
        Assert.Equal(1, queue.OutOfOrderCount);
        AssertNumbered(ReadAll(queue), Nxt);
        queue.Clear();
    }

    [Fact]
    public void Add_OverlappingOutOfOrderData_KeepsEachByteOnce()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt + 100, 100, out _);
        Add(queue, pool, Nxt, Nxt + 50, 200, out _); // covers [50, 250): only [50, 100) and [200, 250) are new
        Assert.Equal(200, queue.OutOfOrderBytes);
        SequenceNumber next = Add(queue, pool, Nxt, Nxt, 50, out _);
        Assert.Equal(Nxt + 250, next);
        byte[] read = ReadAll(queue);
        Assert.Equal(250, read.Length);
        AssertNumbered(read, Nxt);
    }

    [Fact]
    public void Add_OutOfOrderQueueFull_IsNotAccepted()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt + 100, 10, out bool first, max: 1);
        Add(queue, pool, Nxt, Nxt + 200, 10, out bool second, max: 1);
        Assert.True(first);
        Assert.False(second);
        Assert.Equal(1, queue.OutOfOrderCount);
        queue.Clear();
    }

    [Fact]
    public void Add_SmallSegmentsInOrder_AreCopiedOntoTheTailPacket()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        SequenceNumber next = Nxt;
        for (int i = 0; i < 100; i++)
        {
            next = Add(queue, pool, next, next, 1, out _);
        }
        Assert.Equal(1, pool.Pool.LiveChunks); // one 2 KiB chunk holds all hundred bytes
        Assert.Equal(PacketBuffer.ObjectOverhead + 2048, queue.HeldBytes);
        AssertNumbered(ReadAll(queue), Nxt);
        Assert.Equal(0, queue.HeldBytes);
    }

    [Fact]
    public void Add_SmallSegmentPinningABigChunk_IsCopiedIntoASmallOne()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        using (PacketBuffer packet = pool.Pool.Rent(16_000))
        {
            packet.Append(20).Fill(7); // 10 bytes of header, 10 of payload, in a 16 KiB chunk
            queue.Add(Nxt, Nxt, packet, 10, 10, 16, out _);
            Assert.Equal(1, packet.ReferenceCount); // the queue holds a copy, not the packet
        }
        Assert.Equal(PacketBuffer.ObjectOverhead + 2048, queue.HeldBytes);
        Assert.Equal(Enumerable.Repeat((byte)7, 10), ReadAll(queue));
    }

    [Fact]
    public void Collapse_SparsePiecesOthersHeldWhenQueued_BecomeOneDenseBuffer()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        var held = new List<PacketBuffer>();
        SequenceNumber next = Nxt;
        for (int i = 0; i < 50; i++)
        {
            PacketBuffer packet = Payload(pool, next, 1);
            held.Add(packet); // a second owner (a capture, say): the queue cannot copy onto it
            next = queue.Add(next, next, packet, 10, 1, 16, out _);
        }
        Add(queue, pool, next, next + 10, 1, out _); // and one out of order
        held.ForEach(p => p.Release());
        Assert.Equal(51L * (PacketBuffer.ObjectOverhead + 2048), queue.HeldBytes);
        long freed = queue.Collapse();
        Assert.Equal(49L * (PacketBuffer.ObjectOverhead + 2048), freed);
        Assert.Equal(2, pool.Pool.LiveChunks);
        Assert.Equal(50, queue.ReadyBytes);
        Assert.Equal(1, queue.OutOfOrderCount);
        AssertNumbered(ReadAll(queue), Nxt);
        queue.Clear();
        Assert.Equal(0, queue.HeldBytes);
    }

    [Fact]
    public void PruneOutOfOrder_DropsFromTheHighestSequenceDown()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        for (int i = 1; i <= 4; i++)
        {
            Add(queue, pool, Nxt, Nxt + (100 * i), 10, out _);
        }
        int charge = PacketBuffer.ObjectOverhead + 2048;
        Assert.Equal(2, queue.PruneOutOfOrder(2 * charge, above: Nxt));
        Assert.Equal(2 * charge, queue.HeldBytes);
        Assert.Equal(20, queue.OutOfOrderBytes);
        TcpSackList blocks = queue.SackBlocks();
        Assert.Equal(2, blocks.Count); // what is nearest RCV.NXT stays
        Assert.Contains(new TcpSackBlock((Nxt + 100).Value, (Nxt + 110).Value), Enumerable.Range(0, blocks.Count).Select(i => blocks[i]));
        Assert.Contains(new TcpSackBlock((Nxt + 200).Value, (Nxt + 210).Value), Enumerable.Range(0, blocks.Count).Select(i => blocks[i]));
        queue.Clear();
    }

    [Fact]
    public void Rfc2018_4_SackBlocks_ReportTheLatestBlockFirst()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt + 100, 100, out _);
        Add(queue, pool, Nxt, Nxt + 200, 100, out _); // joins the first block: [100, 300)
        Add(queue, pool, Nxt, Nxt + 500, 100, out _);
        Add(queue, pool, Nxt, Nxt + 400, 50, out _);  // the latest: [400, 450)
        TcpSackList blocks = queue.SackBlocks();
        Assert.Equal(3, blocks.Count);
        Assert.Equal(new TcpSackBlock((Nxt + 400).Value, (Nxt + 450).Value), blocks[0]);
        Assert.Equal(new TcpSackBlock((Nxt + 100).Value, (Nxt + 300).Value), blocks[1]);
        Assert.Equal(new TcpSackBlock((Nxt + 500).Value, (Nxt + 600).Value), blocks[2]);
        queue.Clear();
    }

    [Fact]
    public void Rfc2883_4_SackBlocks_PutTheDuplicateFirst()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt + 100, 100, out _);
        var duplicate = new TcpSackBlock((Nxt - 50).Value, Nxt.Value);
        TcpSackList blocks = queue.SackBlocks(duplicate);
        Assert.Equal(2, blocks.Count);
        Assert.Equal(duplicate, blocks[0]);
        queue.Clear();
    }

    [Fact]
    public void SackBlocks_NoOutOfOrderData_AreEmpty()
    {
        Assert.Equal(0, new ReceiveQueue().SackBlocks().Count);
    }

    [Fact]
    public void Take_LessThanAPiece_LeavesTheRestQueued()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt, 100, out _);
        var pieces = new RxPiece[4];
        Assert.Equal(30, queue.Take(pieces, 30, out int count));
        Assert.Equal(1, count);
        Assert.Equal(Nxt, pieces[0].Sequence);
        pieces[0].Packet.Release();
        Assert.Equal(70, queue.ReadyBytes);
        AssertNumbered(ReadAll(queue), Nxt + 30);
    }

    [Fact]
    public void ClearOutOfOrder_KeepsTheInOrderBytes()
    {
        using var pool = new LeakCheckedPool();
        var queue = new ReceiveQueue();
        Add(queue, pool, Nxt, Nxt, 100, out _);
        Add(queue, pool, Nxt + 100, Nxt + 200, 100, out _);
        queue.ClearOutOfOrder();
        Assert.Equal(0, queue.OutOfOrderCount);
        Assert.Equal(100, queue.ReadyBytes);
        queue.Clear();
        Assert.Equal(0, queue.ReadyBytes);
    }
}
