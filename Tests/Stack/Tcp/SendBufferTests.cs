using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Tcp;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The send buffer on its own: reserve-copy-commit, segments referencing its chunks (no copy) at offsets from
/// SND.UNA, acknowledged bytes released chunk by chunk, and a clear that races a writer's copy.
/// </summary>
public class SendBufferTests
{
    private static byte[] Pattern(int length) => [.. Enumerable.Range(0, length).Select(i => (byte)(i * 7))];

    private static void Write(SendBuffer buffer, byte[] data)
    {
        int written = 0;
        while (written < data.Length)
        {
            Span<byte> region = buffer.Reserve(data.Length - written);
            data.AsSpan(written, region.Length).CopyTo(region);
            buffer.Commit(region.Length);
            written += region.Length;
        }
    }

    [Fact]
    public void Commit_CountsOnlyTheUsedPartOfAReservation()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        Span<byte> region = buffer.Reserve(100);
        Assert.Equal(100, region.Length);
        buffer.Commit(40);
        Assert.Equal(40, buffer.Length);
        buffer.Clear();
    }

    [Fact]
    public void Reserve_WhileAReservationIsOpen_Throws()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        buffer.Reserve(10);
        Assert.Throws<InvalidOperationException>(() => buffer.Reserve(10));
        buffer.Commit(0);
        buffer.Clear();
    }

    [Fact]
    public void AppendTo_RangeAcrossChunks_ReferencesTheBytesFromSndUna()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        byte[] data = Pattern(40_000); // three 16 KiB chunks
        Write(buffer, data);
        using (PacketBuffer segment = pool.Pool.Rent(0, 0))
        {
            Assert.True(buffer.AppendTo(segment, 16_000, 1_000)); // straddles the first chunk boundary
            Assert.Equal(data.AsSpan(16_000, 1_000).ToArray(), segment.ToArray());
        }
        buffer.Consume(10_000);
        using (PacketBuffer segment = pool.Pool.Rent(0, 0))
        {
            Assert.True(buffer.AppendTo(segment, 0, 500)); // offsets count from the new SND.UNA
            Assert.Equal(data.AsSpan(10_000, 500).ToArray(), segment.ToArray());
        }
        buffer.Clear();
    }

    [Fact]
    public void AppendTo_PastTheCommittedBytes_IsFalse()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        Write(buffer, Pattern(100));
        using (PacketBuffer segment = pool.Pool.Rent(0, 0))
        {
            Assert.False(buffer.AppendTo(segment, 50, 100));
        }
        buffer.Clear();
    }

    [Fact]
    public void Consume_WholeChunks_ReleasesThem()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        Write(buffer, Pattern(40_000));
        long before = pool.Pool.LiveBuffers;
        buffer.Consume(2 * 16_384);
        Assert.Equal(before - 2, pool.Pool.LiveBuffers);
        Assert.Equal(40_000 - (2 * 16_384), buffer.Length);
        buffer.Consume(buffer.Length);
        Assert.Equal(0, buffer.Length);
        buffer.Clear();
    }

    [Fact]
    public void Clear_DuringAWritersCopy_ReleasesTheTailAtCommit()
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        Write(buffer, Pattern(20_000));
        Span<byte> region = buffer.Reserve(100);
        buffer.Clear(); // the connection was reset while the application copied
        Assert.Equal(0, buffer.Length);
        region.Fill(1); // the region stays valid until the commit
        buffer.Commit(region.Length);
        Assert.Equal(0, buffer.Length);
    }

    private static readonly Gen<(int Op, int A, int B)[]> Operations =
        from count in Gen.Choose(1, 60)
        from ops in Gen.ArrayOf(
            from op in Gen.Choose(0, 5)
            from a in Gen.Choose(0, 40_000)
            from b in Gen.Choose(1, 20_000)
            select (op, a, b), count)
        select ops;

    /// <summary>
    /// Whatever the order of writes (whole chunks, partial reservations, chunks appended by reference),
    /// acknowledgements and segment reads (in order, the cursor's fast path, or anywhere below it, a retransmission),
    /// every segment references exactly the bytes the model stream holds at its offset from SND.UNA.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property AnyOperationSequence_SegmentsHoldTheModelsBytes() => Prop.ForAll(Arb.From(Operations), Run);

    private static void Run((int Op, int A, int B)[] ops)
    {
        using var pool = new LeakCheckedPool();
        var buffer = new SendBuffer(pool.Pool);
        var model = new List<byte>();
        int next = 0; // the in-order send point, from SND.UNA
        byte counter = 0;
        foreach ((int op, int a, int b) in ops)
        {
            switch (op)
            {
                case 0:
                case 1:
                    byte[] data = [.. Enumerable.Range(0, b).Select(_ => counter++)];
                    if (op == 0)
                    {
                        Write(buffer, data);
                    }
                    else
                    {
                        PacketBuffer chunk = pool.Pool.Rent(data.Length, 0);
                        data.CopyTo(chunk.Append(data.Length));
                        buffer.AppendChunk(chunk);
                    }
                    model.AddRange(data);
                    break;
                case 2 when model.Count > 0:
                    int acked = a % (model.Count + 1);
                    buffer.Consume(acked);
                    model.RemoveRange(0, acked);
                    next = Math.Max(0, next - acked);
                    break;
                case 3:
                case 4:
                    int offset = op == 3 ? next : (model.Count == 0 ? 0 : a % model.Count);
                    int length = Math.Min(b % 3000 + 1, model.Count - offset);
                    if (length <= 0)
                    {
                        break;
                    }
                    using (PacketBuffer segment = pool.Pool.Rent(0, 0))
                    {
                        Assert.True(buffer.AppendTo(segment, offset, length));
                        Assert.Equal(model.GetRange(offset, length).ToArray(), segment.ToArray());
                    }
                    if (op == 3)
                    {
                        next = offset + length;
                    }
                    break;
                case 5:
                    Span<byte> region = buffer.Reserve(b);
                    buffer.Commit(0); // an abandoned reservation leaves the tail as it was
                    break;
            }
            Assert.Equal(model.Count, buffer.Length);
        }
        buffer.Clear();
    }
}
