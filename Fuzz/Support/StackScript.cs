// A whole stack driven by a fuzz input: NetworkStack + TCP (a listener on port 80) + a UDP endpoint on port 53,
// over a ChannelEndpoint, on a ManualClock. The input is a script of operations (packets from raw bytes or from
// peers the harness models, clock steps, application calls); state carries across the script. Only the public API
// of the stack, TCP and UDP is used.
using System.Net;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Fuzz.Support;

/// <summary>
/// The engine of the <c>StackInbound</c> and <c>TcpConnection</c> targets.
/// <para>Input: a configuration byte (bit 0: GSO on the link; bit 1: MTU 1280 instead of 1500; bit 2: small socket
/// buffers of 4 KiB; bit 3: no SACK/timestamps/window scaling offered by the stack; bit 4: start with a GRO batch
/// open; bit 5: read the link in batches; bit 6: an outbound queue of 2 packets, so bursts meet back-pressure), then operations, each an opcode byte and its arguments (see <see cref="Op"/>). Peers 0–3 are 10.0.0.1 (even)
/// or fd00::1 (odd) with ports 40000–40003; the stack is 10.0.0.2 and fd00::2.</para>
/// <para>Invariants checked: nothing throws but the documented <see cref="IOException"/> of a closed connection; every
/// packet the stack sends passes RX validation (TCP and UDP checksums verified), comes from the stack's own address and
/// fits the MTU unless it is GSO (then every GSO segment validates); packets the stack received = packets the link
/// delivered + datagrams reassembled; reassembly stays within its memory limit; a handshake from a fresh peer gets a
/// SYN-ACK acknowledging its SYN and is queued for accept (unless the listen queue overflowed); after teardown
/// (abort every connection, dispose listener and UDP endpoint, dispose the stack, close the link) no TCP connection,
/// listener or UDP binding is left and every buffer is back in the pool.</para>
/// </summary>
public sealed partial class StackScript
{
    /// <summary>Opcodes (the byte modulo the count).</summary>
    public enum Op
    {
        /// <summary>A raw packet: one <see cref="PacketRecord"/>.</summary>
        Raw,
        /// <summary>A SYN from peer (arg &amp; 3) to port 80 (81 when arg bit 2), options from arg bits 3–6.</summary>
        Syn,
        /// <summary>A full handshake from peer (arg &amp; 3), which must be fresh (else a SYN); checks the SYN-ACK and the accept queue.</summary>
        Handshake,
        /// <summary>A pure ACK of everything the stack sent to peer (arg &amp; 3), window = next byte · 256.</summary>
        Ack,
        /// <summary>Data from peer (arg &amp; 3): length = next byte · 8 (+ arg bits), PSH when arg bit 2.</summary>
        Data,
        /// <summary>FIN (with ACK) from peer (arg &amp; 3).</summary>
        Fin,
        /// <summary>RST from peer (arg &amp; 3): exact sequence, inside the window or outside it (arg bits 2–3).</summary>
        Rst,
        /// <summary>A segment from peer (arg &amp; 3) with any flags (next byte), sequence and ACK offsets (signed bytes), payload length, options.</summary>
        Segment,
        /// <summary>A UDP datagram from peer (arg &amp; 3) to port 53 (54 when arg bit 2, closed), length = next byte.</summary>
        Udp,
        /// <summary>Advance the clock (arg selects 1 ms … 5 min, or to the next timer).</summary>
        Clock,
        /// <summary>Application calls: accept, read, write, shut down, abort, dispose, UDP receive and reply (arg).</summary>
        App,
        /// <summary>An ICMP error (arg: kind; next 2 bytes: MTU or pointer) about the last packet the stack sent.</summary>
        Icmp,
        /// <summary>Data or a UDP datagram from peer (arg &amp; 3), fragmented at 8·(next byte + 1), the pieces reversed when arg bit 2.</summary>
        Fragments,
        /// <summary>Open or close a GRO batch: while open, packets go through EnqueueGro; closing flushes.</summary>
        Batch,
    }

    private const int OpCount = 14;
    private const ushort ListenPort = 80;
    private const ushort UdpPort = 53;
    private static readonly long[] ClockSteps = [1, 10, 40, 200, 1_000, 3_000, 30_000, 300_000];

    /// <summary>
    /// Advances the clock by <paramref name="step"/> timer by timer, draining the link after each, as a device keeps
    /// reading while time passes (a full link queue would otherwise make TCP retry for the whole step). Bounded.
    /// </summary>
    private void AdvanceDraining(TimeSpan step)
    {
        TimeSpan target = _clock.Elapsed + step;
        for (int i = 0; i < 4096 && _clock.Elapsed < target; i++)
        {
            TimeSpan? next = _clock.TimeUntilNextTimer;
            if (next is null || _clock.Elapsed + next.Value >= target)
            {
                break;
            }
            _clock.Advance(next.Value);
            Drain();
        }
        if (_clock.Elapsed < target)
        {
            _clock.Advance(target - _clock.Elapsed);
        }
    }

    private readonly PacketBufferPool _pool;
    private readonly ManualClock _clock = new();
    private readonly ChannelEndpoint _link;
    private readonly NetworkStack _stack;
    private readonly TcpProtocol _tcp;
    private readonly TcpConnectionListener _listener;
    private readonly UdpEndpoint _udp;
    private readonly Peer[] _peers = new Peer[4];
    private readonly List<TcpConnection> _accepted = [];
    [ThreadStatic]
    private static PacketBuffer[]? t_split;
    [ThreadStatic]
    private static byte[]? t_buffer;
    private readonly PacketBuffer[] _split = t_split ??= new PacketBuffer[GsoSegmenter.MaxSegmentCount];
    private readonly byte[] _buffer = t_buffer ??= new byte[65_536];
    private readonly int _mtu;
    private byte[]? _lastSent;
    private bool _batchOpen;
    private readonly bool _readBatches;
    private readonly PacketBuffer[] _batch = new PacketBuffer[8];

    /// <summary>Builds the stack from the configuration byte.</summary>
    public StackScript(PacketBufferPool pool, byte config)
    {
        _pool = pool;
        _mtu = (config & 2) != 0 ? 1280 : 1500;
        _link = new ChannelEndpoint(new ChannelEndpointOptions
        {
            Name = "fuzz-stack",
            Mtu = _mtu,
            Gso = (config & 1) != 0 ? GsoSupport.Host : GsoSupport.None,
            OutboundQueueCapacity = (config & 0x40) != 0 ? 2 : 256, // bit 6: back-pressure on every burst
        });
        _readBatches = (config & 0x20) != 0;
        int buffers = (config & 4) != 0 ? 4096 : 64 * 1024;
        bool plain = (config & 8) != 0;
        var tcpOptions = new TcpProtocolOptions
        {
            IsnSecret = [1, 2, 3, 4],
            RandomSeed = 5,
            Connection = new TcpConnectionOptions
            {
                SendBufferSize = buffers,
                ReceiveBufferSize = buffers,
                Sack = !plain,
                Timestamps = !plain,
                WindowScaling = !plain,
            },
        };
        _stack = new NetworkStack(new NetworkStackOptions { TimeProvider = _clock, Pool = pool, Tcp = tcpOptions });
        Nic nic = _stack.CreateNic(_link);
        nic.AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        nic.AddAddress(NetPrefix.Parse("fd00::2/64"));
        _tcp = _stack.Tcp;
        _listener = _tcp.Listen(new IPEndPoint(IPAddress.IPv6Any, ListenPort), backlog: 8);
        _udp = _stack.Udp.CreateEndpoint();
        _udp.Bind(new IPEndPoint(IPAddress.IPv6Any, UdpPort));
        for (int i = 0; i < _peers.Length; i++)
        {
            _peers[i] = new Peer((i & 1) != 0, (ushort)(40000 + i), 1000u + ((uint)i * 0x1000_0000u));
        }
        _batchOpen = (config & 16) != 0;
    }

    /// <summary>The TCP connections accepted so far.</summary>
    public IReadOnlyList<TcpConnection> Accepted => _accepted;

    /// <summary>Runs a full handshake from peer <paramref name="peer"/> and accepts the connection (the TcpConnection target's start).</summary>
    public TcpConnection? Establish(int peer)
    {
        Handshake(_peers[peer & 3]);
        Accept();
        return _accepted.Count > 0 ? _accepted[^1] : null;
    }

    /// <summary>Runs every operation of <paramref name="reader"/>, checking invariants after each.</summary>
    public void Run(ref PacketRecordReader reader, ref InputRandom random)
    {
        Drain(); // what the set-up made the stack send
        int ops = 0;
        while (!reader.Rest.IsEmpty && ops++ < 512)
        {
            byte opcode = reader.NextByte();
            byte arg = reader.NextByte();
            var op = (Op)(opcode % OpCount);
            Trace.Write($"op {op} arg 0x{arg:X2}");
            Step(op, arg, ref reader, ref random);
            Drain();
            CheckRunning();
        }
    }

    /// <summary>Tears everything down and checks that nothing is left behind.</summary>
    public void Teardown()
    {
        if (_batchOpen)
        {
            _link.FlushGro();
            _batchOpen = false;
        }
        Accept();
        foreach (TcpConnection connection in _accepted)
        {
            connection.Abort();
        }
        _listener.Dispose();
        _udp.Dispose();
        Drain();
        Check.Equal(0, _tcp.ConnectionCount, "no TCP connection after every connection was aborted and the listener disposed");
        Check.Equal(0, _tcp.ListenerCount, "no listener after dispose");
        Check.Equal(0, _stack.Udp.BoundCount, "no UDP binding after dispose");
        Check.Equal(0, _link.Drain(), "nothing left queued after draining");
        _stack.Dispose();
        Check.True(!_link.IsAttached, "the stack detaches from its link on dispose");
        _link.Close();
        Check.True(_link.IsClosed, "closed");
        // After Close: writes and inbound packets are refused and counted, reads end.
        PacketBuffer late = _pool.Rent(0);
        long refused = _link.Events[ChannelEvent.WriteAfterClose];
        Check.Equal(0, _link.WritePackets([late]), "no write taken after Close");
        late.Release();
        Check.Equal(refused + 1, _link.Events[ChannelEvent.WriteAfterClose], "a write after Close is counted");
        _link.InjectInbound(_pool.RentCopy([0x45]));
        Check.Equal(1L, _link.Events[ChannelEvent.InboundAfterClose], "an inbound packet after Close is counted");
        ValueTask<PacketBuffer?> read = _link.ReadAsync(CancellationToken.None);
        Check.True(read.IsCompleted && read.Result is null, "ReadAsync ends after Close");
        Check.True(_link.WaitWritableAsync(CancellationToken.None).IsCompleted, "WaitWritableAsync returns after Close");
        Drain();
        foreach (TcpConnection connection in _accepted)
        {
            connection.Dispose();
        }
    }

    private void Step(Op op, byte arg, ref PacketRecordReader reader, ref InputRandom random)
    {
        Peer peer = _peers[arg & 3];
        switch (op)
        {
            case Op.Raw:
                if (reader.TryRead(out PacketRecord record))
                {
                    foreach (Peer any in _peers)
                    {
                        any.Fresh = false; // raw bytes may come from any peer's address and port
                    }
                    Inject(record.Rent(_pool, ref random));
                }
                break;
            case Op.Syn:
                SendSyn(peer, (arg & 4) != 0 ? (ushort)(ListenPort + 1) : ListenPort, (byte)(arg >> 3));
                break;
            case Op.Handshake:
                if (peer.Fresh)
                {
                    Handshake(peer);
                }
                else
                {
                    SendSyn(peer, ListenPort, 0xF);
                }
                break;
            case Op.Ack:
                Send(peer, TcpFlags.Ack, peer.SndNxt, peer.RcvNxt, [], window: (ushort)(reader.NextByte() << 8));
                break;
            case Op.Data:
                int length = (reader.NextByte() * 8) + ((arg >> 4) & 7);
                SendData(peer, length, (arg & 4) != 0 ? TcpFlags.Psh : TcpFlags.None);
                break;
            case Op.Fin:
                Send(peer, TcpFlags.Fin | TcpFlags.Ack, peer.SndNxt, peer.RcvNxt, []);
                peer.SndNxt++;
                break;
            case Op.Rst:
                uint seq = ((arg >> 2) & 3) switch { 0 => peer.SndNxt, 1 => peer.SndNxt + 100, 2 => peer.SndNxt + 0x4000_0000, _ => peer.SndNxt - 1 };
                Send(peer, TcpFlags.Rst | ((arg & 0x10) != 0 ? TcpFlags.Ack : TcpFlags.None), seq, peer.RcvNxt, []);
                break;
            case Op.Segment:
                SendAnySegment(peer, arg, ref reader);
                break;
            case Op.Udp:
                SendUdp(peer, (arg & 4) != 0 ? (ushort)(UdpPort + 1) : UdpPort, reader.NextByte() * 4);
                break;
            case Op.Clock:
                if ((arg & 8) != 0)
                {
                    _clock.AdvanceToNextTimer(TimeSpan.FromMinutes(10));
                }
                else
                {
                    AdvanceDraining(TimeSpan.FromMilliseconds(ClockSteps[arg & 7]));
                }
                break;
            case Op.App:
                App(arg, reader.NextByte());
                break;
            case Op.Icmp:
                SendIcmpError(arg, reader.NextUInt16());
                break;
            case Op.Fragments:
                SendFragments(peer, arg, reader.NextByte());
                break;
            case Op.Batch:
                if (_batchOpen)
                {
                    _link.FlushGro();
                }
                _batchOpen = !_batchOpen;
                break;
        }
    }

    private void App(byte arg, byte value)
    {
        TcpConnection? connection = _accepted.Count == 0 ? null : _accepted[value % _accepted.Count];
        try
        {
            switch (arg & 7)
            {
                case 0:
                    Accept();
                    break;
                case 1:
                    foreach (TcpConnection c in _accepted)
                    {
                        while (c.TryRead(_buffer) > 0)
                        {
                        }
                    }
                    break;
                case 2:
                    connection?.TryWrite(_buffer.AsSpan(0, (arg >> 3) * 1024 + value));
                    break;
                case 3:
                    connection?.ShutdownSend();
                    break;
                case 4:
                    connection?.Abort();
                    break;
                case 5:
                    connection?.Dispose();
                    break;
                case 6:
                    while (_udp.TryReceive(_buffer, out UdpReceiveFromResult result))
                    {
                        Check.True(result.ReceivedBytes >= 0 && result.ReceivedBytes <= _buffer.Length, "UDP receive length");
                        if ((arg & 8) != 0)
                        {
                            _udp.SendTo(_buffer.AsSpan(0, Math.Min(result.ReceivedBytes, 1400)), result.RemoteEndPoint);
                        }
                    }
                    break;
                default:
                    _udp.SendTo(_buffer.AsSpan(0, value * 8), new IPEndPoint((arg & 8) != 0 ? IPAddress.Parse("fd00::1") : IPAddress.Parse("10.0.0.1"), 40000));
                    break;
            }
        }
        catch (IOException)
        {
            // TryWrite/TryRead/ShutdownSend on a connection that is reset, closed or shut down (documented).
        }
        catch (ObjectDisposedException)
        {
            // A call on a connection the script disposed (documented for Stream).
        }
    }

    private void Accept()
    {
        while (_listener.TryAccept(out TcpConnection? connection))
        {
            _accepted.Add(connection);
        }
    }

    private void Inject(byte[] packet) => Inject(_pool.RentCopy(packet));

    private void Inject(PacketBuffer packet)
    {
        if (_batchOpen)
        {
            _link.EnqueueGro(packet);
        }
        else
        {
            _link.InjectInbound(packet);
        }
        if (!_batchOpen)
        {
            Drain();
        }
    }

    private void CheckRunning()
    {
        Check.Equal(_link.Events[ChannelEvent.InboundDelivered] + _stack.Events[IpEvent.DatagramsReassembled],
            _stack.Events[IpEvent.PacketsReceived], "packets the stack received = packets the link delivered + datagrams reassembled");
        Check.True(_stack.Reassembler.BytesHeld <= _stack.Reassembler.Options.MaxBytes, "reassembly within its memory limit");
        Check.True(_tcp.ConnectionCount <= _tcp.Options.MaxConnections, "connections within the limit");
        Check.True(_udp.Available <= _stack.Options.UdpReceiveQueueCapacity, "UDP queue bounded");
    }

    private const uint PeerV4 = 0x0A00_0001;
    private const uint LocalV4 = 0x0A00_0002;
    private static readonly UInt128 PeerV6 = new(0xFD00_0000_0000_0000, 1);
    private static readonly UInt128 LocalV6 = new(0xFD00_0000_0000_0000, 2);
    private static readonly byte[] PeerV6Bytes = Convert.FromHexString("fd000000000000000000000000000001");
    private static readonly byte[] LocalV6Bytes = Convert.FromHexString("fd000000000000000000000000000002");
}
