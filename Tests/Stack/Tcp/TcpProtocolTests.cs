// TcpProtocol's protocol-wide choices and budgets: ephemeral ports (RFC 6056), resets to closed ports, the
// connection table's limits (TIME-WAIT, per remote address, per listener) — exact packets on a ManualClock.
using System.Net;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

public class TcpProtocolTests
{
    [Fact]
    public void Rfc6056_EphemeralPorts_OfOneDestination_StepByTheSharedDoubleHashSelector()
    {
        // Algorithm 4 (RFC 6056 §3.3.4): one 3-tuple's ports move on from a keyed offset by small, varying steps
        // (Linux's table perturbation), so they are neither sequential nor scattered over the whole range, where a
        // new connection would meet an old one's TIME-WAIT.
        using var h = new TcpTestHarness();
        var ports = new List<int>();
        var connections = new List<TcpConnection>();
        for (int i = 0; i < 20; i++)
        {
            connections.Add(h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 443)));
            Segment syn = h.Read();
            Assert.Equal(TcpFlags.Syn, syn.Flags);
            ports.Add(syn.Tcp.SourcePort);
        }
        Assert.All(ports, p => Assert.InRange(p, 49152, 65535));
        int[] steps = ports.Zip(ports.Skip(1), (a, b) => ((b - a) % 16384 + 16384) % 16384).ToArray();
        Assert.All(steps, s => Assert.InRange(s, 2, 16));
        Assert.True(steps.Distinct().Count() > 1, "the steps are perturbed, not constant");
        connections.Add(h.Tcp.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 443)));
        int other = h.Link.Read() is { } packet ? ReadSourcePort(packet) : -1;
        Assert.DoesNotContain(other, ports); // another destination starts at its own offset
        connections.ForEach(c => c.Abort());
    }

    [Fact]
    public void Dispose_HeldConnections_ReturnEveryBufferToThePool()
    {
        // Shutting a stack down while connections are held (serve stopping under load): one established and not
        // read from, with in-order and out-of-order data queued and its own data unacknowledged; one the
        // application closed (an orphan in FIN-WAIT-1 with data in flight); one established and never accepted.
        // Disposing the stack ends them all, as a host going down ends its sockets, and every buffer goes back.
        var h = new TcpTestHarness();
        (TcpConnection held, uint iss, TcpConnectionListener listener) = h.AcceptOne(options: false);
        h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh), new byte[100]);
        h.Inject(TcpTestHarness.Peer(1101, iss + 1, TcpFlags.Ack | TcpFlags.Psh), new byte[100]);
        h.Inject(TcpTestHarness.Peer(1401, iss + 1, TcpFlags.Ack | TcpFlags.Psh), new byte[100]); // out of order
        Assert.Equal(3000, held.TryWrite(new byte[3000]));
        Drain(h);

        TcpConnection closed = OpenFrom(h, listener, 40001);
        Assert.Equal(2000, closed.TryWrite(new byte[2000]));
        closed.Dispose();
        Drain(h);

        TcpRepr syn = TcpTestHarness.Peer(9000, 0, TcpFlags.Syn) with { SourcePort = 40002 };
        h.Inject(syn);
        uint queuedIss = h.Read().Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(9001, queuedIss + 1, TcpFlags.Ack) with { SourcePort = 40002 });
        h.Inject(TcpTestHarness.Peer(9001, queuedIss + 1, TcpFlags.Ack | TcpFlags.Psh) with { SourcePort = 40002 }, new byte[70]);
        Drain(h);
        Assert.Equal(3, h.Tcp.ConnectionCount);

        h.Stack.Dispose();
        h.Link.Close();

        Assert.True(h.Pool.Pool.LiveBuffers == 0, h.Pool.Pool.DescribeLive());
        Assert.Equal(0, h.Pool.Pool.LiveChunks);
        Assert.Equal(0, h.Tcp.ConnectionCount);
        Assert.Throws<IOException>(() => held.Read(new byte[10])); // the application learns the connection is gone
        h.Dispose();
    }

    /// <summary>Completes a handshake from peer port <paramref name="peerPort"/> to <paramref name="listener"/> and accepts it.</summary>
    private static TcpConnection OpenFrom(TcpTestHarness h, TcpConnectionListener listener, ushort peerPort)
    {
        h.Inject(TcpTestHarness.Peer(5000, 0, TcpFlags.Syn) with { SourcePort = peerPort });
        uint iss = h.Read().Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(5001, iss + 1, TcpFlags.Ack) with { SourcePort = peerPort });
        Assert.True(listener.TryAccept(out TcpConnection? connection));
        return connection!;
    }

    private static int ReadSourcePort(NetStack.Buffers.PacketBuffer packet)
    {
        byte[] bytes = packet.ToArray();
        packet.Release();
        int ihl = (bytes[0] & 0xF) * 4;
        return (bytes[ihl] << 8) | bytes[ihl + 1];
    }

    [Fact]
    public void Connections_FromOneRemoteAddressAtItsLimit_AreRefusedWhileOthersAreServed()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxConnectionsPerRemoteAddress = 50 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1000);
        int made = Enumerable.Range(0, 80).Count(i => Handshake(h, Packets.V4A, (ushort)(1000 + i)));
        Assert.Equal(50, made);
        Assert.Equal(50, h.Tcp.ConnectionCount);
        Assert.Equal(30, h.Tcp.Drops[TcpDropReason.RemoteAddressLimit]);
        Assert.True(Handshake(h, 0x0A00_0009, 1000)); // another address is served
        Assert.Equal(51, h.Tcp.ConnectionCount);
    }

    [Fact]
    public void Connections_ClosedIntoTimeWait_NoLongerCountAgainstTheirAddressOrListener()
    {
        // A client that opens and closes connections quickly from one address (wrk through the forwarder, every
        // connection from the sandbox's one address): TIME-WAIT is bounded on its own (MaxTimeWait, recycled first
        // when the table fills), so closed connections must not fill the per-address or per-listener limit.
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxConnectionsPerRemoteAddress = 5, MaxConnectionsPerListener = 5 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 100);
        for (int i = 0; i < 20; i++)
        {
            ushort port = (ushort)(2000 + i);
            TcpConnection connection = OpenFrom(h, listener, port);
            connection.Dispose(); // our FIN first: we are the active closer (RFC 9293 §3.6), so TIME-WAIT is ours
            Segment fin = h.Read();
            Assert.True(fin.Flags.HasFlag(TcpFlags.Fin));
            h.Inject(TcpTestHarness.Peer(5001, fin.Tcp.SequenceNumber + 1, TcpFlags.Ack | TcpFlags.Fin) with { SourcePort = port });
            Drain(h);
        }
        Assert.Equal(0, h.Tcp.Drops[TcpDropReason.RemoteAddressLimit]);
        Assert.Equal(0, h.Tcp.Drops[TcpDropReason.ListenerLimit]);
        Assert.Equal(20, h.Tcp.ConnectionCount); // every one still held in TIME-WAIT
    }

    [Fact]
    public void Connections_WhenTheTableIsSevenEighthsFull_OnlyAddressesWithFewAreServed()
    {
        // 20 sources take turns opening connections until the table is 7/8 full (224 of 256); from then on each
        // holds more than CrowdedConnectionsPerRemoteAddress and is refused, and the last eighth serves newcomers.
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxConnections = 256, CrowdedConnectionsPerRemoteAddress = 4 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 1000);
        for (int round = 0; round < 20; round++)
        {
            for (uint source = 0; source < 20; source++)
            {
                Handshake(h, 0x0A00_0010 + source, (ushort)(1000 + round));
            }
        }
        Assert.Equal(224, h.Tcp.ConnectionCount);
        Assert.Equal(400 - 224, h.Tcp.Drops[TcpDropReason.RemoteAddressLimit]);
        for (uint newcomer = 0; newcomer < 8; newcomer++)
        {
            Assert.True(Handshake(h, 0x0A00_0080 + newcomer, 2000));
        }
        Assert.Equal(232, h.Tcp.ConnectionCount);
    }

    [Fact]
    public void Connections_BeyondMaxConnectionsPerListener_AreRefusedAndOtherListenersServed()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxConnectionsPerListener = 10 });
        using TcpConnectionListener flooded = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 100);
        using TcpConnectionListener other = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 81), backlog: 100);
        int made = Enumerable.Range(0, 15).Count(i => Handshake(h, 0x0A00_0010 + (uint)i, 1000));
        Assert.Equal(10, made);
        Assert.Equal(5, h.Tcp.Drops[TcpDropReason.ListenerLimit]);
        Assert.True(Handshake(h, 0x0A00_0010, 1001, localPort: 81));
        Assert.True(flooded.TryAccept(out TcpConnection? first));
        first!.Abort(); // a slot is free again
        Drain(h);
        Assert.True(Handshake(h, 0x0A00_0030, 1000));
    }

    [Fact]
    public void TimeWait_BeyondMaxTimeWait_IsNotKept()
    {
        // Linux's tcp_max_tw_buckets: past it a closing connection keeps no TIME-WAIT (TCPTimeWaitOverflow).
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxTimeWait = 2 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 100);
        for (ushort port = 1000; port < 1004; port++)
        {
            IntoTimeWait(h, listener, port);
        }
        Assert.Equal(2, h.Tcp.TimeWaitCount);
        Assert.Equal(2, h.Tcp.Events[TcpEvent.TimeWaitOverflow]);
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, h.Tcp.ConnectionCount); // the two without a bucket closed after their last ACK
        h.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(0, h.Tcp.ConnectionCount);
        Assert.Equal(0, h.Tcp.TimeWaitCount);
    }

    [Fact]
    public void TimeWait_InAFullTable_TheOldestIsRecycledForANewConnection()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], MaxConnections = 4, MaxTimeWait = 4 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 100);
        TcpConnection oldest = IntoTimeWait(h, listener, 1000);
        for (ushort port = 1001; port < 1004; port++)
        {
            IntoTimeWait(h, listener, port);
        }
        Assert.Equal(4, h.Tcp.TimeWaitCount);
        Assert.True(Handshake(h, 0x0A00_0009, 2000));
        Assert.Equal(1, h.Tcp.Events[TcpEvent.TimeWaitRecycled]);
        Assert.Equal(TcpState.Closed, oldest.State);
        Assert.Equal(3, h.Tcp.TimeWaitCount);
        Assert.Equal(4, h.Tcp.ConnectionCount);
        Assert.Equal(0, h.Tcp.Drops[TcpDropReason.TableFull]);
    }

    [Fact]
    public void Rfc5961_7_ChallengeAckBudget_IsDrawnAtRandomEachSecond()
    {
        // CVE-2016-5696: with a fixed global budget an off-path attacker who spends it and counts the challenge ACKs
        // it gets back learns how many others drew. Linux draws each second's budget in [limit/2, limit/2 + limit).
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], RandomSeed = 7, ChallengeAcksPerSecond = 10 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), backlog: 100);
        for (uint i = 0; i < 30; i++)
        {
            Assert.True(Handshake(h, 0x0A00_0010 + i, 1000));
        }
        var perSecond = new List<int>();
        for (int second = 0; second < 10; second++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
            for (uint i = 0; i < 30; i++)
            {
                // In the window but not at RCV.NXT: a challenge ACK each (RFC 5961 §3.2), one per connection per second.
                h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1101, 0, TcpFlags.Rst) with { SourcePort = 1000 }, default, src: 0x0A00_0010 + i));
            }
            int sent = 0;
            while (h.Link.Read() is { } packet)
            {
                packet.Release();
                sent++;
            }
            perSecond.Add(sent);
        }
        Assert.All(perSecond, n => Assert.InRange(n, 5, 14));
        Assert.True(perSecond.Distinct().Count() > 2, string.Join(", ", perSecond));
        Assert.Equal(300 - perSecond.Sum(), h.Tcp.Events[TcpEvent.ChallengeAcksSuppressed]);
    }

    [Fact]
    public void ResetsToClosedPorts_PerRemoteAddress_AreBoundedPerSecond()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], ResetsPerSecondPerAddress = 5 });
        for (int i = 0; i < 20; i++)
        {
            h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { SourcePort = (ushort)(1000 + i) });
        }
        Assert.Equal(5, CountSent(h));
        Assert.Equal(20, h.Tcp.Drops[TcpDropReason.NoConnection]);
        Assert.Equal(15, h.Tcp.Events[TcpEvent.ResetsSuppressed]);
        h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn), default, src: 0x0A00_0009)); // another address has its own budget
        Assert.Equal(1, CountSent(h));
        h.Advance(TimeSpan.FromSeconds(1));
        for (int i = 0; i < 20; i++)
        {
            h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { SourcePort = (ushort)(2000 + i) });
        }
        Assert.Equal(5, CountSent(h));
    }

    private static int CountSent(TcpTestHarness h)
    {
        int n = 0;
        while (h.Link.Read() is { } packet)
        {
            packet.Release();
            n++;
        }
        return n;
    }

    /// <summary>A peer at <paramref name="source"/> completes a handshake; false when no SYN-ACK came back.</summary>
    private static bool Handshake(TcpTestHarness h, uint source, ushort port, ushort localPort = 80)
    {
        TcpRepr syn = TcpTestHarness.Peer(1000, 0, TcpFlags.Syn, localPort) with { SourcePort = port, MaxSegmentSize = 1460 };
        h.InjectRaw(Packets.Ipv4Tcp(syn, default, src: source));
        uint? iss = null;
        while (h.Link.Read() is { } packet)
        {
            byte[] bytes = packet.ToArray();
            packet.Release();
            ReadOnlySpan<byte> tcp = bytes.AsSpan((bytes[0] & 0xF) * 4);
            if (TcpHeader.GetFlags(tcp) == (TcpFlags.Syn | TcpFlags.Ack))
            {
                iss = TcpHeader.GetSequenceNumber(tcp);
            }
        }
        if (iss is null)
        {
            return false;
        }
        h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1001, iss.Value + 1, TcpFlags.Ack, localPort) with { SourcePort = port }, default, src: source));
        Drain(h);
        return true;
    }

    /// <summary>The peer at 10.0.0.1:<paramref name="port"/> connects, we close first, the peer's FIN puts us in TIME-WAIT.</summary>
    private static TcpConnection IntoTimeWait(TcpTestHarness h, TcpConnectionListener listener, ushort port)
    {
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { SourcePort = port });
        uint iss = h.Read().Tcp.SequenceNumber;
        h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack) with { SourcePort = port });
        Assert.True(listener.TryAccept(out TcpConnection? c));
        c!.Dispose();
        Assert.Equal(TcpFlags.Ack | TcpFlags.Fin, h.Read().Flags);
        h.Inject(TcpTestHarness.Peer(1001, iss + 2, TcpFlags.Ack | TcpFlags.Fin) with { SourcePort = port });
        Assert.Equal(1002u, h.Read().Tcp.AcknowledgmentNumber);
        return c;
    }

    private static void Drain(TcpTestHarness h)
    {
        while (h.Link.Read() is { } packet)
        {
            packet.Release();
        }
    }
}
