// The delegating base of sink decorators (Stack/PacketPorts.cs): every member forwards to the inner sink unless
// overridden, held packets' due times and deliveries reach through a chain, and disposal stops at the final sink.
using NetStack.Buffers;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack;

public class PacketSinkDecoratorTests
{
    /// <summary>A final sink that holds what it gets until told, with a due time it reports.</summary>
    private sealed class HoldingSink : IPacketSink
    {
        public List<PacketBuffer> Held { get; } = [];

        public List<string> Calls { get; } = [];

        public TimeSpan? Due { get; set; }

        public bool Disposed { get; private set; }

        public void Enqueue(PacketBuffer packet)
        {
            Calls.Add("enqueue");
            Held.Add(packet);
        }

        public void Flush() => Calls.Add("flush");

        public TimeSpan? TimeUntilNextDue => Due;

        public int DeliverDue()
        {
            Calls.Add("deliver");
            return 7;
        }

        public void Dispose() => Disposed = true;
    }

    /// <summary>Overrides nothing: the base alone.</summary>
    private sealed class Transparent(IPacketSink inner) : PacketSinkDecorator(inner)
    {
        public int Disposals { get; private set; }

        protected override void Dispose(bool disposing) => Disposals++;
    }

    /// <summary>Overrides only Enqueue (as a tap or a tracer does).</summary>
    private sealed class Counting(IPacketSink inner) : PacketSinkDecorator(inner)
    {
        public int Seen { get; private set; }

        public override void Enqueue(PacketBuffer packet)
        {
            Seen++;
            Inner.Enqueue(packet);
        }
    }

    [Fact]
    public void Base_ForwardsEveryMember_ToTheInnerSink()
    {
        using var pool = new LeakCheckedPool();
        var sink = new HoldingSink { Due = TimeSpan.FromMilliseconds(3) };
        var decorator = new Transparent(sink);
        PacketBuffer packet = pool.Pool.RentCopy([0x45, 0, 0, 20]);
        decorator.Enqueue(packet);
        decorator.Flush();
        Assert.Equal(7, decorator.DeliverDue());
        Assert.Equal(TimeSpan.FromMilliseconds(3), decorator.TimeUntilNextDue);
        Assert.Same(sink, decorator.Inner);
        Assert.Equal(["enqueue", "flush", "deliver"], sink.Calls);
        Assert.Same(packet, Assert.Single(sink.Held));
        packet.Release();
    }

    [Fact]
    public void Chain_ADecoratorOverridingOnlyEnqueue_StillPassesFlushAndDueTimesThrough()
    {
        using var pool = new LeakCheckedPool();
        var sink = new HoldingSink();
        var counting = new Counting(new Transparent(sink));
        for (int i = 0; i < 3; i++)
        {
            counting.Enqueue(pool.Pool.RentCopy([0x45, 0, 0, 20]));
        }
        counting.Flush();
        Assert.Equal(3, counting.Seen);
        Assert.Null(counting.TimeUntilNextDue);
        sink.Due = TimeSpan.Zero;
        Assert.Equal(TimeSpan.Zero, counting.TimeUntilNextDue);
        Assert.Equal(["enqueue", "enqueue", "enqueue", "flush"], sink.Calls);
        foreach (PacketBuffer p in sink.Held)
        {
            p.Release();
        }
    }

    [Fact]
    public void Dispose_DisposesEveryDecoratorBehind_ButNeverTheFinalSink()
    {
        var sink = new HoldingSink();
        var inner = new Transparent(sink);
        var outer = new Transparent(inner);
        outer.Dispose();
        Assert.Equal(1, outer.Disposals);
        Assert.Equal(1, inner.Disposals);
        Assert.False(sink.Disposed);
    }

    [Fact]
    public void Constructor_RefusesANullInnerSink() => Assert.Throws<ArgumentNullException>(() => new Transparent(null!));
}
