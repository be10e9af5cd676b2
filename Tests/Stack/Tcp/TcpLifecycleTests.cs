using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// Connection lifecycle beyond the handshake: the forwarder hook, TIME-WAIT reuse (RFC 6191), keepalive
/// (RFC 1122 §4.2.3.6), sequence numbers across the 2^32 wrap, hostile MSS, a window that stays shut.
/// </summary>
public class TcpLifecycleTests
{
    private static TcpRepr PeerTs(uint seq, uint ack, TcpFlags flags, uint tsval = 200, ushort window = 65535, ushort port = 80) =>
        TcpTestHarness.Peer(seq, ack, flags, localPort: port, window: window) with { Timestamps = new TcpTimestamps(tsval, 0) };

    private static byte[] Data(int length, int seed = 1) => Packets.Payload(length, seed);

    // --- forwarder ---------------------------------------------------------------------------------------

    [Fact]
    public void Forwarder_Sees_The_Syn_And_Accept_Answers_SynAck()
    {
        using var h = new TcpTestHarness();
        TcpForwardRequest? seen = null;
        h.Tcp.Forwarder = new TcpForwarder((r, _) =>
        {
            seen = r;
            return ValueTask.CompletedTask; // returns without deciding
        });
        TcpRepr syn = TcpTestHarness.Peer(5000, 0, TcpFlags.Syn, localPort: 8080) with { MaxSegmentSize = 1400 };
        h.Inject(syn);
        Assert.NotNull(seen);
        Assert.Equal(new IPEndPoint(TcpTestHarness.LocalIp, 8080), seen!.LocalEndPoint);
        Assert.Equal(new IPEndPoint(TcpTestHarness.PeerIp, TcpTestHarness.PeerPort), seen.RemoteEndPoint);
        Assert.Equal(1400, seen.PeerMaxSegmentSize);
        // The handler returned without deciding: refused with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>.
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(5001u, rst.Tcp.AcknowledgmentNumber);
        Assert.Equal(0u, rst.Tcp.SequenceNumber);
        Assert.Null(seen.Accept()); // decided already
        Assert.Equal(0, h.Tcp.ConnectionCount);
    }

    [Fact]
    public async Task Forwarder_Accepts_After_An_Asynchronous_Check_And_Absorbs_Retransmitted_Syns()
    {
        using var h = new TcpTestHarness();
        var upstream = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var accepted = new TaskCompletionSource<TcpConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var forwarder = new TcpForwarder(async (r, ct) =>
        {
            if (await upstream.Task.WaitAsync(ct))
            {
                accepted.SetResult(r.Accept()!);
            }
            else
            {
                r.Refuse();
            }
        });
        h.Tcp.Forwarder = forwarder;
        h.Inject(PeerTs(7000, 0, TcpFlags.Syn, tsval: 50, port: 443) with { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 7 });
        h.ExpectNone(); // the application is still dialing upstream
        Assert.Equal(1, forwarder.Pending);
        h.Advance(TimeSpan.FromSeconds(1));
        h.Inject(PeerTs(7000, 0, TcpFlags.Syn, tsval: 1050, port: 443) with { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 7 });
        h.ExpectNone();
        Assert.Equal(1, forwarder.Events[TcpForwarderEvent.DuplicateSyns]);
        Assert.Equal(1, h.Tcp.Drops[TcpDropReason.ForwarderPending]);

        upstream.SetResult(true);
        TcpConnection connection = await accepted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Segment synAck = h.Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(7001u, synAck.Tcp.AcknowledgmentNumber);
        Assert.NotNull(synAck.Tcp.WindowScale);
        Assert.True(synAck.Tcp.SackPermitted);
        Assert.Equal(1050u, synAck.Tcp.Timestamps!.Value.Echo); // TS.Recent from the SYN the request kept
        Assert.Equal(TcpState.SynReceived, connection.State);
        Assert.Equal(0, forwarder.Pending);

        uint iss = synAck.Tcp.SequenceNumber;
        h.Inject(PeerTs(7001, iss + 1, TcpFlags.Ack, tsval: 1060, port: 443));
        await connection.ConnectedAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(TcpState.Established, connection.State);
        h.Inject(PeerTs(7001, iss + 1, TcpFlags.Ack | TcpFlags.Psh, tsval: 1070, port: 443), Data(10));
        var buffer = new byte[64];
        Assert.Equal(10, connection.TryRead(buffer));
        Segment update = h.Read(); // the read opened the window past the SYN's unscaled 64 KiB
        Assert.Equal(7011u, update.Tcp.AcknowledgmentNumber);
        Assert.True(update.Tcp.WindowSize << 7 > 65535);
        connection.Abort();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, h.Read().Flags);
    }

    [Fact]
    public void Forwarder_Refuses_With_Rst_When_The_Decision_Times_Out()
    {
        using var h = new TcpTestHarness();
        var never = new TaskCompletionSource();
        CancellationToken token = default;
        var forwarder = new TcpForwarder(async (r, ct) => { token = ct; await never.Task; }, new TcpForwarderOptions { DecisionTimeout = TimeSpan.FromSeconds(5) });
        h.Tcp.Forwarder = forwarder;
        h.Inject(TcpTestHarness.Peer(100, 0, TcpFlags.Syn, localPort: 22));
        h.Advance(TimeSpan.FromSeconds(4));
        h.ExpectNone();
        h.Advance(TimeSpan.FromSeconds(1));
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(101u, rst.Tcp.AcknowledgmentNumber);
        Assert.True(token.IsCancellationRequested);
        Assert.Equal(0, forwarder.Pending);
        Assert.Equal(1, h.Tcp.Events[TcpEvent.ForwardRefused]);
    }

    [Fact]
    public void Forwarder_Bounds_Pending_Requests_And_Leaves_Listeners_And_Non_Syns_Alone()
    {
        using var h = new TcpTestHarness();
        var requests = new List<TcpForwardRequest>();
        var never = new TaskCompletionSource();
        h.Tcp.Forwarder = new TcpForwarder(async (r, _) => { requests.Add(r); await never.Task; }, new TcpForwarderOptions { MaxPending = 3 });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        for (ushort port = 1000; port < 1005; port++)
        {
            h.Inject(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: port));
        }
        h.ExpectNone();
        Assert.Equal(3, requests.Count);
        Assert.Equal(2, h.Tcp.Forwarder.Events[TcpForwarderEvent.Overflows]);
        h.Inject(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 80)); // the listener's
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, h.Read().Flags);
        Assert.Equal(3, requests.Count);
        h.Inject(TcpTestHarness.Peer(1, 99, TcpFlags.Ack, localPort: 2000)); // not a SYN: RST as for a closed port
        Assert.Equal(TcpFlags.Rst, h.Read().Flags);
        Assert.Equal(3, requests.Count);
        foreach (TcpForwardRequest r in requests)
        {
            r.Refuse();
            Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, h.Read().Flags);
        }
    }

    [Fact]
    public void Forwarder_ThreeQuartersFull_DropsSynsFromSourcesAlreadyPending_AndServesNewcomers()
    {
        // The pending table is protected like a listener's backlog without cookies (Linux's tcp_conn_request keeps
        // the last quarter of its SYN queue from unproven peers): one flooding source cannot take it all.
        using var h = new TcpTestHarness();
        var requests = new List<TcpForwardRequest>();
        var never = new TaskCompletionSource();
        var forwarder = new TcpForwarder(async (r, _) => { requests.Add(r); await never.Task; }, new TcpForwarderOptions { MaxPending = 8 });
        h.Tcp.Forwarder = forwarder;
        for (ushort port = 1000; port < 1010; port++)
        {
            h.Inject(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 443) with { SourcePort = port });
        }
        Assert.Equal(6, requests.Count);
        Assert.Equal(4, forwarder.Events[TcpForwarderEvent.EarlyDrops]);
        foreach (uint newcomer in new uint[] { 0x0A00_0021, 0x0A00_0022, 0x0A00_0023 })
        {
            h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 443), default, src: newcomer));
        }
        Assert.Equal(8, requests.Count);
        Assert.Equal(1, forwarder.Events[TcpForwarderEvent.Overflows]);
        Assert.Equal(8, forwarder.Events[TcpForwarderEvent.Requests]);
        requests[0].Refuse();
        h.Inject(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 443) with { SourcePort = 2000 }); // 7 pending, the source has 5: early drop
        Assert.Equal(5, forwarder.Events[TcpForwarderEvent.EarlyDrops]);
        Assert.Equal(7, forwarder.Pending);
        foreach (TcpForwardRequest r in requests)
        {
            r.Refuse();
        }
        Assert.Equal(0, forwarder.Pending);
    }

    [Fact]
    public void Forwarder_On_A_Promiscuous_Spoofing_Nic_Answers_From_The_Original_Destination()
    {
        using var h = new TcpTestHarness();
        Nic nic = h.Stack.Nics[0];
        nic.Promiscuous = true;
        nic.Spoofing = true;
        TcpConnection? connection = null;
        h.Tcp.Forwarder = new TcpForwarder((r, _) => { connection = r.Accept(); return ValueTask.CompletedTask; });
        uint farAway = 0x5DB8D822; // 93.184.216.34
        h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 443), default, src: Packets.V4A, dst: farAway));
        Assert.NotNull(connection);
        Assert.Equal(IPAddress.Parse("93.184.216.34"), connection!.LocalEndPoint.Address);
        PacketBuffer? packet = h.Link.Read();
        Assert.NotNull(packet);
        byte[] bytes = packet!.ToArray();
        packet.Release();
        Assert.Equal(farAway, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(12)));
        Assert.Equal(Packets.V4A, BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(16)));
        Assert.Equal((byte)(TcpFlags.Syn | TcpFlags.Ack), bytes[20 + 13]);
        connection.Abort();
        h.Link.Drain();
    }

    [Fact]
    public void Forwarder_Accept_Without_Spoofing_Fails_With_AddressNotAvailable()
    {
        using var h = new TcpTestHarness();
        h.Stack.Nics[0].Promiscuous = true;
        SocketException? failure = null;
        h.Tcp.Forwarder = new TcpForwarder((r, _) =>
        {
            failure = Assert.Throws<SocketException>(() => r.Accept());
            return ValueTask.CompletedTask;
        });
        h.InjectRaw(Packets.Ipv4Tcp(TcpTestHarness.Peer(1, 0, TcpFlags.Syn, localPort: 443), default, src: Packets.V4A, dst: 0x5DB8D822));
        Assert.Equal(SocketError.AddressNotAvailable, failure!.SocketErrorCode);
        Assert.Equal(0, h.Tcp.ConnectionCount);
    }

    // --- TIME-WAIT reuse (RFC 6191) --------------------------------------------------------------------------

    /// <summary>Closes a passive connection from our side first so that it sits in TIME-WAIT; returns our ISS.</summary>
    private static (TcpConnectionListener Listener, uint Iss) IntoTimeWait(TcpTestHarness h, bool timestamps)
    {
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(options: timestamps);
        TcpRepr Ack(uint seq, uint ack, TcpFlags f) => timestamps ? PeerTs(seq, ack, f, tsval: 300) : TcpTestHarness.Peer(seq, ack, f);
        h.Inject(Ack(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh), Data(100));
        Assert.Equal(100, c.TryRead(new byte[100]));
        c.Dispose();
        while (h.TryRead() is Segment s && (s.Flags & TcpFlags.Fin) == 0)
        {
        }
        h.Inject(Ack(1101, iss + 2, TcpFlags.Ack | TcpFlags.Fin));
        Assert.Equal(1102u, h.Read().Tcp.AcknowledgmentNumber);
        Assert.Equal(TcpState.TimeWait, c.State);
        return (l, iss);
    }

    [Fact]
    public void Syn_With_Newer_Timestamp_Reopens_A_TimeWait_Connection_RFC6191()
    {
        using var h = new TcpTestHarness();
        (TcpConnectionListener l, uint oldIss) = IntoTimeWait(h, timestamps: true);
        using (l)
        {
            h.Inject(PeerTs(50, 0, TcpFlags.Syn, tsval: 400) with { MaxSegmentSize = 1460 }); // lower seq, newer TS
            Segment synAck = h.Read();
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
            Assert.Equal(51u, synAck.Tcp.AcknowledgmentNumber);
            Assert.True(new SequenceNumber(synAck.Tcp.SequenceNumber) > new SequenceNumber(oldIss + 2)); // above the old sequence space
            Assert.Equal(1, h.Tcp.Events[TcpEvent.TimeWaitReused]);
            Assert.Equal(1, h.Tcp.ConnectionCount);
            h.Inject(PeerTs(51, synAck.Tcp.SequenceNumber + 1, TcpFlags.Ack, tsval: 401));
            Assert.True(l.TryAccept(out TcpConnection? fresh));
            Assert.Equal(TcpState.Established, fresh!.State);
            fresh.Abort();
        }
    }

    [Fact]
    public void Syn_With_Old_Timestamp_Is_Dropped_And_TimeWait_Goes_On_RFC6191()
    {
        using var h = new TcpTestHarness();
        (TcpConnectionListener l, _) = IntoTimeWait(h, timestamps: true);
        using (l)
        {
            h.Inject(PeerTs(5000, 0, TcpFlags.Syn, tsval: 250)); // higher seq but older TS: an old duplicate
            h.ExpectNone();
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.TimeWaitSynIgnored]);
            Assert.Equal(1, h.Tcp.ConnectionCount);
            Assert.Equal(0, h.Tcp.Events[TcpEvent.TimeWaitReused]);
        }
    }

    [Fact]
    public void Without_Timestamps_Only_A_Higher_Sequence_Number_Reopens_RFC1122_4_2_2_13()
    {
        using var h = new TcpTestHarness();
        (TcpConnectionListener l, _) = IntoTimeWait(h, timestamps: false);
        using (l)
        {
            h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn)); // below RCV.NXT (1102)
            h.ExpectNone();
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.TimeWaitSynIgnored]);
            h.Inject(TcpTestHarness.Peer(90000, 0, TcpFlags.Syn));
            Segment synAck = h.Read();
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
            Assert.Equal(90001u, synAck.Tcp.AcknowledgmentNumber);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.TimeWaitReused]);
        }
    }

    [Fact]
    public void Timestamp_Clock_Offset_Is_The_Same_For_Every_Incarnation()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener l = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        h.Inject(PeerTs(1, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460 });
        uint first = h.Read().Tcp.Timestamps!.Value.Value;
        h.Inject(TcpTestHarness.Peer(2, 0, TcpFlags.Rst)); // exact RCV.NXT: the half-open connection is gone
        Assert.Equal(0, h.Tcp.ConnectionCount);
        h.Advance(TimeSpan.FromMilliseconds(500));
        h.Inject(PeerTs(9, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460 });
        uint second = h.Read().Tcp.Timestamps!.Value.Value;
        Assert.Equal(first + 500, second); // keyed by the 4-tuple (RFC 7323 §5.4), so the next incarnation continues the clock
    }

    // --- keepalive (RFC 1122 §4.2.3.6) --------------------------------------------------------------------

    [Fact]
    public void Keepalive_Probes_An_Idle_Connection_And_An_Answer_Keeps_It()
    {
        using var h = new TcpTestHarness();
        var options = new TcpConnectionOptions { KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(2), KeepAliveProbes = 3 };
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(connectionOptions: options);
        using (l)
        {
            h.Advance(TimeSpan.FromSeconds(9));
            h.ExpectNone();
            h.Advance(TimeSpan.FromSeconds(1));
            Segment probe = h.Read();
            Assert.Equal(TcpFlags.Ack, probe.Flags);
            Assert.Equal(iss, probe.Tcp.SequenceNumber); // SND.NXT − 1: outside the window, so the peer must ACK
            Assert.Equal(1001u, probe.Tcp.AcknowledgmentNumber);
            Assert.Empty(probe.Payload);
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: 500));
            h.Advance(TimeSpan.FromSeconds(9));
            h.ExpectNone(); // the answer restarted the idle time
            h.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(iss, h.Read().Tcp.SequenceNumber);
            Assert.Equal(TcpState.Established, c.State);
            Assert.Equal(2, h.Tcp.Events[TcpEvent.KeepaliveProbes]);
            c.Abort();
        }
    }

    [Fact]
    public void Keepalive_Drops_The_Connection_After_Unanswered_Probes()
    {
        using var h = new TcpTestHarness();
        var options = new TcpConnectionOptions { KeepAlive = true, KeepAliveIdle = TimeSpan.FromSeconds(10), KeepAliveInterval = TimeSpan.FromSeconds(2), KeepAliveProbes = 3 };
        (TcpConnection c, _, TcpConnectionListener l) = h.AcceptOne(connectionOptions: options);
        using (l)
        {
            h.Advance(TimeSpan.FromSeconds(10));
            h.Read();
            h.Advance(TimeSpan.FromSeconds(2));
            h.Read();
            h.Advance(TimeSpan.FromSeconds(2));
            h.Read();
            Assert.Equal(TcpState.Established, c.State);
            h.Advance(TimeSpan.FromSeconds(2));
            h.ExpectNone();
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(SocketError.TimedOut, c.Error);
            var e = Assert.Throws<IOException>(() => c.TryRead(new byte[10]));
            Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(e.InnerException).SocketErrorCode);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }

    [Fact]
    public void Keepalive_Is_Off_By_Default()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, _, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Advance(TimeSpan.FromHours(3));
            h.ExpectNone();
            Assert.Equal(TcpState.Established, c.State);
            c.Abort();
        }
    }

    // --- sequence space wrap -----------------------------------------------------------------------------

    [Fact]
    public void Transfer_Across_The_Sequence_Number_Wrap_Both_Ways()
    {
        using var h = new TcpTestHarness();
        h.Tcp.IsnOverride = () => 0xFFFF_F000;
        uint peerIss = 0xFFFF_FF00;
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(peerIss: peerIss);
        using (l)
        {
            Assert.Equal(0xFFFF_F000u, iss);
            // Receive 3 segments that cross 2^32 (peer's sequence numbers wrap after 255 bytes).
            uint seq = peerIss + 1;
            byte[] incoming = Data(3000, seed: 5);
            for (int i = 0; i < 3; i++)
            {
                h.Inject(PeerTs(seq, iss + 1, TcpFlags.Ack, tsval: 300 + (uint)i), incoming.AsSpan(i * 1000, 1000));
                seq += 1000;
            }
            Assert.Equal(unchecked(peerIss + 1 + 2000), h.Read().Tcp.AcknowledgmentNumber); // every second segment
            h.Advance(TimeSpan.FromMilliseconds(40)); // the third waits for the delayed ACK
            Segment ack = h.Read();
            Assert.Equal(unchecked(peerIss + 1 + 3000), ack.Tcp.AcknowledgmentNumber);
            Assert.True(ack.Tcp.AcknowledgmentNumber < 0x1000); // wrapped
            var buffer = new byte[4000];
            Assert.Equal(3000, c.TryRead(buffer));
            Assert.Equal(incoming, buffer[..3000]);
            Assert.Equal(0, h.Pool.Pool.LiveBuffers - h.Link.NumQueued); // the copy out released every inbound packet
            h.Link.Drain();

            // Send 8 KiB: our sequence numbers wrap after 4095 bytes; ACK across the wrap frees the buffer.
            byte[] outgoing = Data(8192, seed: 6);
            Assert.Equal(8192, c.TryWrite(outgoing));
            var sent = new List<byte>();
            uint expected = iss + 1;
            while (h.TryRead() is Segment s)
            {
                Assert.Equal(expected, s.Tcp.SequenceNumber);
                expected += (uint)s.Payload.Length;
                sent.AddRange(s.Payload);
            }
            h.Inject(PeerTs(seq, expected, TcpFlags.Ack, tsval: 400));
            while (h.TryRead() is Segment s)
            {
                Assert.Equal(expected, s.Tcp.SequenceNumber);
                expected += (uint)s.Payload.Length;
                sent.AddRange(s.Payload);
            }
            h.Inject(PeerTs(seq, expected, TcpFlags.Ack, tsval: 401));
            while (h.TryRead() is Segment s)
            {
                expected += (uint)s.Payload.Length;
                sent.AddRange(s.Payload);
            }
            h.Inject(PeerTs(seq, expected, TcpFlags.Ack, tsval: 402));
            Assert.Equal(outgoing, sent.ToArray());
            Assert.Equal(unchecked(iss + 1 + 8192), expected);
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.Equal(0, stats.SendQueued);
            Assert.Equal(0, stats.Retransmissions);
            c.Abort();
        }
    }

    // --- hostile peers ---------------------------------------------------------------------------------------

    [Fact]
    public void Mss_Of_One_Is_Raised_To_The_Floor_And_Data_Still_Flows()
    {
        using var h = new TcpTestHarness();
        TcpConnectionListener l = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80));
        using (l)
        {
            h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1 });
            uint iss = h.Read().Tcp.SequenceNumber;
            h.Inject(TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack));
            Assert.True(l.TryAccept(out TcpConnection? c));
            Assert.Equal(TcpSender.MinimumSendMss, c!.GetStatistics().MaxSegmentSize);
            Assert.Equal(480, c.TryWrite(Data(480)));
            var segments = new List<Segment>();
            while (h.TryRead() is Segment s)
            {
                segments.Add(s);
            }
            Assert.NotEmpty(segments);
            Assert.All(segments, s => Assert.Equal(TcpSender.MinimumSendMss, s.Payload.Length));
            c.Abort();
        }
    }

    [Fact]
    public void A_Window_That_Stays_Shut_Is_Probed_Forever_At_The_Capped_Interval()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 0));
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            int probes = 0;
            TimeSpan lastProbe = TimeSpan.Zero, longestGap = TimeSpan.Zero;
            uint tsval = 300;
            for (int second = 0; second < 4 * 3600; second++)
            {
                h.Advance(TimeSpan.FromSeconds(1));
                while (h.TryRead() is Segment probe)
                {
                    Assert.Single(probe.Payload);
                    Assert.Equal(iss + 1, probe.Tcp.SequenceNumber);
                    probes++;
                    TimeSpan now = TimeSpan.FromSeconds(second + 1);
                    if (probes > 1 && now - lastProbe > longestGap)
                    {
                        longestGap = now - lastProbe;
                    }
                    lastProbe = now;
                    h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: tsval++, window: 0)); // still shut
                }
            }
            Assert.Equal(TcpState.Established, c.State);
            Assert.Equal(TimeSpan.FromSeconds(60), longestGap); // backed off to the cap, never beyond
            Assert.InRange(probes, 4 * 60 - 5, 4 * 60 + 10);     // about one a minute for four hours
            Assert.Equal(1000, c.GetStatistics().SendQueued);
            int size = c.Options.SendBufferSize;
            Assert.Equal(size - 1000, c.TryWrite(new byte[size])); // memory stays bounded by the send buffer
            Assert.Equal(0, c.TryWrite(new byte[1]));
            c.Abort();
        }
    }

    /// <summary>
    /// Runs the clock a second at a time for <paramref name="seconds"/>, reading every zero-window probe and,
    /// when <paramref name="answer"/>, answering each with an ACK that keeps the window shut. Returns the probes.
    /// </summary>
    private static int ProbeShutWindow(TcpTestHarness h, uint iss, int seconds, bool answer)
    {
        int probes = 0;
        uint tsval = 300;
        for (int second = 0; second < seconds; second++)
        {
            h.Advance(TimeSpan.FromSeconds(1));
            while (h.TryRead() is Segment probe)
            {
                if (probe.Payload.Length == 1)
                {
                    probes++;
                    if (answer)
                    {
                        h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: tsval++, window: 0));
                    }
                }
            }
        }
        return probes;
    }

    [Fact]
    public void Persist_ZeroWindowPeerGoneSilent_DropsTheConnectionAfterRetries2Probes()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { MaxRetransmissions = 4 });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 0));
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            int probes = ProbeShutWindow(h, iss, 3600, answer: false);
            Assert.Equal(4, probes); // tcp_retries2 unanswered probes, then the connection goes
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(SocketError.TimedOut, c.Error);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.PersistLimit]);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }

    [Fact]
    public void Orphan_ZeroWindowPeerStillAnswering_IsDroppedAfterOrphanRetries()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { OrphanRetries = 3 });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 0));
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            c.Dispose(); // FIN-WAIT-1 with 1000 bytes and a FIN behind a shut window: an orphan
            Assert.Equal(TcpState.FinWait1, c.State);
            int probes = ProbeShutWindow(h, iss, 3600, answer: true);
            Assert.Equal(3, probes);
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.OrphansDropped]);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }

    [Fact]
    public void UserTimeout_ZeroWindowPeerStillAnswering_DropsTheConnectionWhenItPasses()
    {
        using var h = new TcpTestHarness();
        var options = new TcpConnectionOptions { UserTimeout = TimeSpan.FromSeconds(30) };
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(connectionOptions: options);
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 0));
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            ProbeShutWindow(h, iss, 29, answer: true);
            Assert.Equal(TcpState.Established, c.State);
            ProbeShutWindow(h, iss, 60, answer: true); // the next probe due after 30 s ends it
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(SocketError.TimedOut, c.Error);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.UserTimeout]);
        }
    }

    [Fact]
    public void UserTimeout_UnacknowledgedData_DropsTheConnectionBeforeRetries2()
    {
        using var h = new TcpTestHarness();
        var options = new TcpConnectionOptions { UserTimeout = TimeSpan.FromSeconds(10) };
        (TcpConnection c, _, TcpConnectionListener l) = h.AcceptOne(connectionOptions: options);
        using (l)
        {
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            for (int second = 0; second < 60 && c.State != TcpState.Closed; second++)
            {
                h.Advance(TimeSpan.FromSeconds(1));
                while (h.TryRead() is not null)
                {
                }
            }
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(SocketError.TimedOut, c.Error);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.UserTimeout]);
            Assert.Equal(0, h.Tcp.Events[TcpEvent.RetransmissionLimit]);
        }
    }

    [Fact]
    public void Orphans_BeyondMaxOrphans_AreResetAtOnce()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { MaxOrphans = 0 });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, window: 0));
            Assert.Equal(1000, c.TryWrite(Data(1000)));
            c.Dispose();
            Segment reset = h.Read();
            Assert.True(reset.Flags.HasFlag(TcpFlags.Rst));
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(1, h.Tcp.Events[TcpEvent.OrphansDropped]);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }

    // --- more transitions and options ----------------------------------------------------------------------

    [Fact]
    public void FinWait1_Goes_Straight_To_TimeWait_On_A_Fin_That_Acks_Our_Fin_RFC9293_3_10_7_4()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.ShutdownSend();
            Assert.Equal(TcpFlags.Ack | TcpFlags.Fin, h.Read().Flags);
            Assert.Equal(TcpState.FinWait1, c.State);
            h.Inject(PeerTs(1001, iss + 2, TcpFlags.Ack | TcpFlags.Fin, tsval: 300));
            Assert.Equal(TcpState.TimeWait, c.State);
            Segment ack = h.Read();
            Assert.Equal(TcpFlags.Ack, ack.Flags);
            Assert.Equal(1002u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(iss + 2, ack.Tcp.SequenceNumber);
            c.Dispose();
        }
    }

    [Fact]
    public void Window_Scale_Applies_To_Both_Windows_After_The_Handshake_RFC7323_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(); // peer scale 2, ours 7 (for a 6 MiB buffer)
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: 300, window: 1000)); // 1000 << 2 = 4000 bytes
            Assert.Equal(4000, c.GetStatistics().SendWindow);
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh, tsval: 301, window: 1000), Data(100));
            h.Advance(TimeSpan.FromMilliseconds(40));
            Segment ack = h.Read();
            int advertised = ack.Tcp.WindowSize << 7;
            // free space of the 256 KiB buffer, less half the 2 304 bytes the 100-byte segment pins (its truesize), scaled and rounded down
            Assert.InRange(advertised, (256 * 1024) - 100 - (2304 / 2) - 127, (256 * 1024) - 100);
            Assert.Equal(8000, c.TryWrite(Data(8000)));
            int sent = 0;
            while (h.TryRead() is Segment s)
            {
                sent += s.Payload.Length;
            }
            Assert.Equal(2 * 1448, sent); // the scaled 4000-byte window: two full segments; sender SWS avoidance holds the 1104 left (RFC 9293 §3.8.6.2.1)
            c.Abort();
        }
    }

    [Fact]
    public void Rtt_Comes_From_The_Timestamp_Echo_RFC7323_4()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.TryWrite(Data(100));
            Segment data = h.Read();
            h.Advance(TimeSpan.FromMilliseconds(30));
            h.Inject(PeerTs(1001, iss + 101, TcpFlags.Ack, tsval: 300) with { Timestamps = new TcpTimestamps(300, data.Tcp.Timestamps!.Value.Value) });
            // RFC 6298 §2.2–§2.3 over two samples: the handshake's (0 ms on the virtual clock), then this 30 ms one.
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.Equal(TimeSpan.FromMilliseconds(30.0 / 8), stats.SmoothedRtt);  // 7/8·0 + 1/8·30
            Assert.Equal(TimeSpan.FromMilliseconds(30.0 / 4), stats.RttVariance);  // 3/4·0 + 1/4·|0 − 30|
            Assert.Equal(TimeSpan.FromMilliseconds(200), stats.RetransmissionTimeout); // 3.75 + 4·7.5 ms, raised to the 200 ms floor
            c.Abort();
        }
    }

    [Fact]
    public void NoDelay_Set_At_Run_Time_Releases_What_Nagle_Held()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.TryWrite(Data(10));
            Assert.Equal(10, h.Read().Payload.Length);
            c.TryWrite(Data(20));
            h.ExpectNone(); // Nagle: a small segment waits while data is unacknowledged
            Assert.False(c.NoDelay);
            c.NoDelay = true;
            Assert.Equal(20, h.Read().Payload.Length);
            Assert.True(c.Options.NoDelay);
            c.KeepAlive = true;
            Assert.True(c.Options.KeepAlive);
            c.Abort();
        }
    }
}
