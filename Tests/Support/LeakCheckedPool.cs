using NetStack.Buffers;

namespace NetStack.Tests.Support;

/// <summary>
/// A fresh debug-tracking pool for one test; disposing it asserts that every buffer and chunk went back
/// (zero live buffers), and on failure lists where the leaked buffers were rented.
/// </summary>
public sealed class LeakCheckedPool : IDisposable
{
    public LeakCheckedPool(PacketBufferPoolOptions? options = null)
    {
        Pool = new PacketBufferPool(options ?? new PacketBufferPoolOptions { DebugTracking = true }, "test");
    }

    public PacketBufferPool Pool { get; }

    public static implicit operator PacketBufferPool(LeakCheckedPool p) => p.Pool;

    public void AssertNoLeaks()
    {
        Assert.True(Pool.LiveBuffers == 0, Pool.DescribeLive());
        Assert.Equal(0, Pool.LiveChunks);
    }

    /// <summary>
    /// Asserts no leaks. A failing test leaks by leaving early, and this assertion, thrown from a <c>using</c>,
    /// would then hide the real failure: set NETSTACK_SKIP_LEAK_CHECK=1 while debugging one.
    /// </summary>
    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("NETSTACK_SKIP_LEAK_CHECK") != "1")
        {
            AssertNoLeaks();
        }
    }
}
