// TcpConnection's synchronous Stream methods: a thread blocked in Read or Write is woken by the packet path itself,
// never through a thread-pool continuation, so synchronous callers on pool threads cannot starve the pool of the
// thread that would wake them (issue 14 item 13). Run alone: the tests cap the process's thread pool.
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Tests that cap the process's thread pool run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadPoolCapCollection
{
    public const string Name = "thread-pool-cap";
}

[Collection(ThreadPoolCapCollection.Name)]
public class TcpConnectionTests
{
    /// <summary>
    /// Runs <paramref name="blocking"/> on a pool thread while every other pool thread is held and the pool may not
    /// grow, then <paramref name="wake"/> on this thread; true when <paramref name="blocking"/> returned (bounded wait,
    /// so a regression fails rather than hangs).
    /// </summary>
    private static bool CompletesWithThePoolExhausted(Action blocking, Action wake)
    {
        ThreadPool.GetMinThreads(out int minWorkers, out _);
        ThreadPool.GetMaxThreads(out int maxWorkers, out int maxIo);
        ThreadPool.GetAvailableThreads(out int available, out _);
        int busy = maxWorkers - available; // this test's own thread among them
        int cap = Math.Max(minWorkers, busy + 1);
        int free = cap - busy;
        using var release = new ManualResetEventSlim();
        using var started = new CountdownEvent(free);
        using var done = new ManualResetEventSlim();
        Assert.True(ThreadPool.SetMaxThreads(cap, maxIo));
        try
        {
            for (int i = 0; i < free - 1; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(_ =>
                {
                    started.Signal();
                    release.Wait();
                }, null);
            }
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                started.Signal();
                blocking();
                done.Set();
            }, null);
            Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "the pool never ran the work items");
            Thread.Sleep(200); // let the blocking call reach its wait
            Assert.False(done.IsSet, "the call did not block: nothing tested");
            wake();
            return done.Wait(TimeSpan.FromSeconds(10));
        }
        finally
        {
            release.Set();
            ThreadPool.SetMaxThreads(maxWorkers, maxIo);
            done.Wait(TimeSpan.FromSeconds(30)); // a regression's call completes once the pool may grow again
        }
    }

    [Fact]
    public void SyncRead_OnTheLastFreePoolThread_WokenByTheArrivingSegment()
    {
        using var h = new TcpTestHarness();
        (TcpConnection connection, uint iss, TcpConnectionListener listener) = h.AcceptOne(options: false);
        byte[] buffer = new byte[100];
        int read = -1;

        bool completed = CompletesWithThePoolExhausted(
            () => read = connection.Read(buffer, 0, buffer.Length),
            () => h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh), "hello"u8));

        Assert.True(completed, "a synchronous Read waited for a thread-pool thread to wake it");
        Assert.Equal(5, read);
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);
        connection.Abort();
        connection.Dispose();
        listener.Dispose();
    }

    [Fact]
    public void SyncWrite_OnTheLastFreePoolThread_WokenByTheAckThatFreesSpace()
    {
        using var h = new TcpTestHarness();
        (TcpConnection connection, uint iss, TcpConnectionListener listener) = h.AcceptOne(options: false);
        int bufferSize = connection.GetStatistics().SendBufferSize;
        Assert.Equal(bufferSize, connection.TryWrite(new byte[bufferSize])); // the send buffer is full from here
        uint sent = 0;
        while (h.TryRead() is { } segment)
        {
            sent += (uint)segment.Payload.Length;
        }
        Assert.True(sent > 0);

        bool completed = CompletesWithThePoolExhausted(
            () => connection.Write(new byte[10], 0, 10),
            () => h.Inject(TcpTestHarness.Peer(1001, iss + 1 + sent, TcpFlags.Ack)));

        Assert.True(completed, "a synchronous Write waited for a thread-pool thread to wake it");
        connection.Abort();
        connection.Dispose();
        listener.Dispose();
    }
}
