using NetStack.Cli.Serve;
using NetStack.Tests.Stack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Cli.Serve;

/// <summary>The serve services' common part: a connection that makes no progress for the idle timeout is reset.</summary>
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
}
