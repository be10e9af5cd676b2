// Tests of TcpService, the accept loop and per-connection bookkeeping every serve TCP service shares.
using NetStack.Cli.Serve;
using NetStack.Tcp;
using NetStack.Tests.Stack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Cli.Serve;

/// <summary>
/// The serve services' common part: a connection that makes no progress for the idle timeout is reset; accepting
/// costs the same with many connections live.
/// </summary>
public class TcpServiceTests
{
    [Fact]
    public async Task IdleTimeout_SilentPeer_ResetsTheConnection()
    {
        using var h = new TcpTestHarness();
        await using var service = new DiscardService { IdleTimeout = TimeSpan.FromSeconds(10) };
        service.Start(h.Tcp, 9);
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn, localPort: 9));
        uint iss = h.Read().Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack, localPort: 9));
        for (int i = 0; i < 1000 && service.Accepted == 0; i++)
        {
            await Task.Delay(10); // the accept loop runs on the thread pool
        }
        Segment? reset = null;
        for (int second = 0; second < 120 && reset is null; second++)
        {
            await Task.Delay(10); // the handler starts (and arms its watch) on the thread pool
            h.Advance(TimeSpan.FromSeconds(1));
            while (h.TryRead() is Segment s)
            {
                reset = s.Flags.HasFlag(TcpFlags.Rst) ? s : reset;
            }
        }
        Assert.NotNull(reset);
        Assert.Equal(1, service.IdleTimeouts);
    }

    /// <summary>A service whose connections stay live until the test releases them.</summary>
    private sealed class HoldingService : TcpService
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override string Name => "holding";

        protected override Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken) =>
            Release.Task.WaitAsync(cancellationToken);
    }

    [Fact]
    public async Task Accept_ManyLiveConnections_WorkPerAcceptDoesNotGrow()
    {
        const int Connections = 400;
        using var h = new TcpTestHarness();
        await using var service = new HoldingService();
        service.Start(h.Tcp, 80);
        long visitsAtHalf = 0;
        for (int i = 0; i < Connections; i++)
        {
            ushort port = (ushort)(20000 + i);
            h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { SourcePort = port });
            Segment synAck = h.Read();
            h.Inject(TcpTestHarness.Peer(1001, synAck.Seq.Value + 1, TcpFlags.Ack) with { SourcePort = port });
            for (int spin = 0; spin < 1000 && service.Accepted <= i; spin++)
            {
                await Task.Delay(5); // the accept loop runs on the thread pool
            }
            Assert.Equal(i + 1, service.Accepted);
            if (i + 1 == Connections / 2)
            {
                visitsAtHalf = service.BookkeepingVisits;
            }
        }
        Assert.Equal(Connections, service.ActiveConnections); // every one still being served
        // One entry per accept whether 0 or 399 others are live (a list pruned on each accept visits n² / 2).
        Assert.Equal(Connections / 2, visitsAtHalf);
        Assert.Equal(Connections, service.BookkeepingVisits);
        service.Release.SetResult();
    }
}
