// The TCP forwarder hook's own decisions beyond accept/refuse: a handler that drops a request (a proxy at its dial
// limit) leaves the peer to retransmit, and a decision timeout whose token callbacks throw stays inside its boundary.
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

public sealed class TcpForwarderTests
{
    [Fact]
    public void Drop_HandlerOutOfCapacity_NoAnswerAndTheRetransmittedSynIsANewRequest()
    {
        using var h = new TcpTestHarness();
        int calls = 0;
        var forwarder = new TcpForwarder((r, _) =>
        {
            calls++;
            r.Drop();
            return ValueTask.CompletedTask;
        });
        h.Tcp.Forwarder = forwarder;
        TcpRepr syn = TcpTestHarness.Peer(5000, 0, TcpFlags.Syn, localPort: 8080);
        h.Inject(syn);
        h.ExpectNone(); // as a SYN to a full listen queue: no RST, no SYN-ACK
        Assert.Equal(0, forwarder.Pending);
        h.Advance(TimeSpan.FromSeconds(1));
        h.Inject(syn); // RFC 6298 §5: the peer retransmits; a new request, not a duplicate of a pending one
        h.ExpectNone();
        Assert.Equal(2, calls);
        Assert.Equal(2, forwarder.Events[TcpForwarderEvent.HandlerDrops]);
        Assert.Equal(0, forwarder.Events[TcpForwarderEvent.DuplicateSyns]);
        Assert.Equal(0, h.Tcp.ConnectionCount);
    }

    [Fact]
    public void DecisionTimeout_ATokenCallbackThrows_FaultCountedAndTheRequestRefused()
    {
        using var h = new TcpTestHarness();
        var never = new TaskCompletionSource();
        var forwarder = new TcpForwarder(async (r, ct) =>
        {
            ct.Register(() => throw new InvalidOperationException("the handler's cancellation callback failed"));
            await never.Task; // never decides
        }, new TcpForwarderOptions { DecisionTimeout = TimeSpan.FromSeconds(5) });
        h.Tcp.Forwarder = forwarder;
        h.Inject(TcpTestHarness.Peer(5000, 0, TcpFlags.Syn, localPort: 8080));
        h.ExpectNone();
        h.Advance(TimeSpan.FromSeconds(5)); // the timer callback must not throw (on a real clock it would end the process)
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(5001u, rst.Tcp.AcknowledgmentNumber);
        Assert.Equal(1, forwarder.Events[TcpForwarderEvent.TimerFaults]);
        Assert.Equal(0, forwarder.Pending); // not left in the table
    }
}
