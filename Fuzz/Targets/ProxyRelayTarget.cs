// The forwarder's whole path with in-memory host peers: sandbox peers open TCP connections through a HostForwarder
// (dial outcomes drawn from the input: connected, refused, unreachable, pending until a later step), exchange data,
// FIN and RST with it, send UDP datagrams (to the NAT and DNS) and echo requests, while the host side's peers
// (socket pairs in place of the kernel's sockets) write, shut down, close and reset. No packet reaches a network.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Proxy;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: a configuration byte (bit 0: the gateway reaches the host's loopback; bit 1: refusals as RST; bit 2: one
/// dial and two connections at most; bit 3: two UDP flows at most; bit 4: small socket buffers), then operations,
/// each an opcode byte and an argument byte (see <see cref="Op"/>). Sandbox peers 0–3 are 10.0.2.100 (even) or
/// fd00::100 (odd), ports 40000–40003; the forwarder's stack is the gateway 10.0.2.2 / fd00::2 with DNS on 10.0.2.3.
/// Invariants: nothing throws; after the forwarder is disposed no relayed connection, dial or UDP flow is counted and
/// no connection is left open (SYN-RECEIVED, ESTABLISHED, CLOSE-WAIT); once the closing ones' timers ran out the
/// stack holds no connection; every buffer is back in the pool.
/// </summary>
public sealed partial class ProxyRelayTarget : IFuzzTarget
{
    private enum Op
    {
        /// <summary>A raw packet: one <see cref="PacketRecord"/>.</summary>
        Raw,
        /// <summary>A SYN from peer (arg &amp; 3) to destination (arg &gt;&gt; 2 &amp; 3); the next byte decides the host dial.</summary>
        Syn,
        /// <summary>An ACK of everything the forwarder sent to peer (arg &amp; 3), window = next byte · 256.</summary>
        Ack,
        /// <summary>Data from peer (arg &amp; 3): next byte · 8 bytes.</summary>
        Data,
        /// <summary>FIN from peer (arg &amp; 3).</summary>
        Fin,
        /// <summary>RST from peer (arg &amp; 3), at its next sequence number or off by the next byte.</summary>
        Rst,
        /// <summary>A host TCP peer (arg &amp; 3) acts (arg &gt;&gt; 2): write next byte · 64 bytes, shut down, close, reset, read.</summary>
        HostTcp,
        /// <summary>A UDP datagram from peer (arg &amp; 3) to destination (arg &gt;&gt; 2 &amp; 3), next byte long.</summary>
        Udp,
        /// <summary>A host UDP peer (arg &amp; 3) replies (next byte long) or closes (arg bit 2).</summary>
        HostUdp,
        /// <summary>An echo request from peer (arg &amp; 3) to destination (arg &gt;&gt; 2 &amp; 3).</summary>
        Echo,
        /// <summary>Time: complete the pending dials (arg bit 0, outcome from the next byte), advance the stack's clock (arg bits 1–3), let the relays run (arg bit 4).</summary>
        Time,
    }

    private const int OpCount = 11;
    private static readonly long[] ClockSteps = [0, 1, 10, 200, 1_000, 5_000, 60_000, 300_000];
    private static readonly byte[] Payload = SegmentSpec.Data(4096, seed: 7);

    // Per family: an ordinary host, the gateway (the host's loopback), DNS / a mapped address, a refused one.
    private static readonly IPEndPoint[] TcpV4 = [new(IPAddress.Parse("93.184.216.34"), 80), new(IPAddress.Parse("10.0.2.2"), 8080), new(IPAddress.Parse("10.0.2.3"), 53), new(IPAddress.Parse("169.254.1.1"), 80)];
    private static readonly IPEndPoint[] TcpV6 = [new(IPAddress.Parse("2001:db8::1"), 443), new(IPAddress.Parse("fd00::2"), 22), new(IPAddress.Parse("::ffff:1.2.3.4"), 80), new(IPAddress.Parse("::1"), 80)];
    private static readonly IPEndPoint[] UdpV4 = [new(IPAddress.Parse("10.0.2.3"), 53), new(IPAddress.Parse("198.51.100.7"), 443), new(IPAddress.Parse("198.51.100.7"), 9), new(IPAddress.Parse("224.0.0.251"), 5353)];
    private static readonly IPEndPoint[] UdpV6 = [new(IPAddress.Parse("2001:db8::53"), 53), new(IPAddress.Parse("2001:db8::7"), 443), new(IPAddress.Parse("fd00::2"), 9), new(IPAddress.Parse("ff02::fb"), 5353)];

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-proxy-relay");

    /// <inheritdoc/>
    public string Name => "ProxyRelay";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var reader = new PacketRecordReader(input);
        var random = new InputRandom(input, salt: 61);
        byte config = reader.NextByte();
        var world = new World(_pool, config);
        try
        {
            world.Drain();
            int ops = 0;
            while (!reader.Rest.IsEmpty && ops++ < 256)
            {
                var op = (Op)(reader.NextByte() % OpCount);
                byte arg = reader.NextByte();
                Trace.Write($"op {op} arg 0x{arg:X2}");
                world.Step(op, arg, ref reader, ref random);
                world.Drain();
            }
        }
        finally
        {
            world.Teardown();
        }
        Check.NoLeaks(_pool);
    }

    /// <summary>A sandbox peer: its address and port, the destination of its connection and both sequence numbers.</summary>
    private sealed class Peer(bool v6, ushort port, uint isn)
    {
        public bool V6 { get; } = v6;
        public byte[] Address { get; } = v6 ? IPAddress.Parse("fd00::100").GetAddressBytes() : [10, 0, 2, 100];
        public ushort Port { get; } = port;
        public IPEndPoint? Destination { get; set; }
        public uint Isn { get; } = isn;
        public uint SndNxt { get; set; } = isn;
        public uint RcvNxt { get; set; }
    }

    /// <summary>The stack, the forwarder and both sides' peers of one input.</summary>
    private sealed class World
    {
        private readonly PacketBufferPool _pool;
        private readonly ManualClock _clock = new();
        private readonly ChannelEndpoint _link;
        private readonly NetworkStack _stack;
        private readonly PeerSockets _sockets = new();
        private readonly HostForwarder _forwarder;
        private readonly Peer[] _peers = new Peer[4];

        public World(PacketBufferPool pool, byte config)
        {
            _pool = pool;
            _link = new ChannelEndpoint(new ChannelEndpointOptions { Name = "fuzz-proxy-relay", Mtu = 1500, OutboundQueueCapacity = 1024 });
            int buffers = (config & 16) != 0 ? 4096 : 64 * 1024;
            _stack = new NetworkStack(new NetworkStackOptions
            {
                TimeProvider = _clock,
                Pool = pool,
                Tcp = new TcpProtocolOptions
                {
                    IsnSecret = [1, 2, 3, 4],
                    RandomSeed = 5,
                    Connection = new TcpConnectionOptions { SendBufferSize = buffers, ReceiveBufferSize = buffers },
                },
            });
            Nic nic = _stack.CreateNic(_link);
            nic.AddAddress(NetPrefix.Parse("10.0.2.2/24"));
            nic.AddAddress(NetPrefix.Parse("fd00::2/64"));
            bool tight = (config & 4) != 0;
            _forwarder = new HostForwarder(_stack, new ProxyOptions
            {
                Gateways = [NetAddress.Parse("10.0.2.2"), NetAddress.Parse("fd00::2")],
                DnsAddresses = [NetAddress.Parse("10.0.2.3")],
                Resolvers = [new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53)],
                AllowHostLoopback = (config & 1) != 0,
                RefuseWithReset = (config & 2) != 0,
                MaxPendingDials = tight ? 1 : 8,
                MaxConnections = tight ? 2 : 16,
                MaxUdpFlows = (config & 8) != 0 ? 2 : 16,
                DialTimeout = TimeSpan.FromMinutes(10), // never in real time: dials end by a step or at teardown
                RelayChunkSize = 4096,
            }, loggerFactory: null, _sockets);
            for (int i = 0; i < _peers.Length; i++)
            {
                _peers[i] = new Peer((i & 1) != 0, (ushort)(40000 + i), 1000u + ((uint)i * 0x4000_0000u));
            }
        }

        public void Step(Op op, byte arg, ref PacketRecordReader reader, ref InputRandom random)
        {
            Peer peer = _peers[arg & 3];
            int which = (arg >> 2) & 3;
            switch (op)
            {
                case Op.Raw:
                    if (reader.TryRead(out PacketRecord record))
                    {
                        _link.InjectInbound(record.Rent(_pool, ref random));
                    }
                    break;
                case Op.Syn:
                    _sockets.Decision = reader.NextByte();
                    if (peer.Destination is null || peer.SndNxt != peer.Isn)
                    {
                        peer.Destination = (peer.V6 ? TcpV6 : TcpV4)[which];
                        peer.SndNxt = peer.Isn;
                    }
                    SendTcp(peer, TcpFlags.Syn, peer.SndNxt, 0, [], window: 65535, syn: true);
                    break;
                case Op.Ack:
                    SendTcp(peer, TcpFlags.Ack, peer.SndNxt + (peer.SndNxt == peer.Isn ? 1u : 0u), peer.RcvNxt, [], (ushort)(reader.NextByte() << 8));
                    if (peer.SndNxt == peer.Isn)
                    {
                        peer.SndNxt++; // the handshake's ACK: the SYN is behind us
                    }
                    break;
                case Op.Data:
                {
                    int length = reader.NextByte() * 8;
                    SendTcp(peer, TcpFlags.Ack | TcpFlags.Psh, peer.SndNxt, peer.RcvNxt, Payload.AsSpan(0, length), 65535);
                    peer.SndNxt += (uint)length;
                    break;
                }
                case Op.Fin:
                    SendTcp(peer, TcpFlags.Fin | TcpFlags.Ack, peer.SndNxt, peer.RcvNxt, [], 65535);
                    peer.SndNxt++;
                    break;
                case Op.Rst:
                    SendTcp(peer, TcpFlags.Rst, peer.SndNxt + (uint)(sbyte)reader.NextByte(), 0, [], 0);
                    break;
                case Op.HostTcp:
                    _sockets.ActTcp(arg & 3, (arg >> 2) % 5, reader.NextByte());
                    break;
                case Op.Udp:
                    SendIp(peer, (peer.V6 ? UdpV6 : UdpV4)[which], IpProtocol.Udp, reader.NextByte());
                    break;
                case Op.HostUdp:
                    _sockets.ActUdp(arg & 3, close: (arg & 4) != 0, reader.NextByte());
                    break;
                case Op.Echo:
                    SendIp(peer, (peer.V6 ? TcpV6 : TcpV4)[which], peer.V6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, reader.NextByte());
                    break;
                case Op.Time:
                    if ((arg & 1) != 0)
                    {
                        _sockets.CompletePending(reader.NextByte());
                    }
                    AdvanceDraining(TimeSpan.FromMilliseconds(ClockSteps[(arg >> 1) & 7]));
                    if ((arg & 16) != 0)
                    {
                        Thread.Yield(); // the relays' pumps run on the thread pool
                    }
                    break;
            }
        }

        /// <summary>Reads what the stack sent; a segment to a peer moves that peer's next expected sequence number.</summary>
        public void Drain()
        {
            while (_link.Read() is { } sent)
            {
                Learn(sent.Head, sent.Length);
                sent.Release();
            }
        }

        public void Teardown()
        {
            _sockets.CompletePending(4); // refused
            if (Trace.Enabled)
            {
                Trace.Write(_forwarder.Metrics.Describe());
            }
            _forwarder.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Check.Equal(0, _forwarder.Metrics.OpenConnections, "no relayed connection counted after the forwarder is disposed");
            Check.Equal(0, _forwarder.Metrics.DialsInFlight, "no dial in flight after the forwarder is disposed");
            Check.Equal(0, _forwarder.Metrics.UdpFlows, "no UDP flow after the forwarder is disposed");
            _sockets.Dispose();
            Drain();
            foreach (TcpState open in (ReadOnlySpan<TcpState>)[TcpState.SynReceived, TcpState.Established, TcpState.CloseWait])
            {
                Check.Equal(0L, _stack.Telemetry.TcpConnections(open), $"no relayed connection left {open} after the forwarder is disposed");
            }
            AdvanceDraining(TimeSpan.FromHours(1)); // closing connections end by their own timers (FIN retries, TIME-WAIT)
            Check.Equal(0, _stack.Tcp.ConnectionCount, "every relayed connection released once its timers ran out");
            _stack.Dispose();
            _link.Close();
            Drain();
        }

        private void AdvanceDraining(TimeSpan step)
        {
            TimeSpan target = _clock.Elapsed + step;
            for (int i = 0; i < 256 && _clock.TimeUntilNextTimer is { } next && _clock.Elapsed + next < target; i++)
            {
                _clock.Advance(next);
                Drain();
            }
            if (_clock.Elapsed < target)
            {
                _clock.Advance(target - _clock.Elapsed);
            }
        }

        private void SendTcp(Peer peer, TcpFlags flags, uint seq, uint ack, ReadOnlySpan<byte> payload, ushort window, bool syn = false)
        {
            if (peer.Destination is not { } destination)
            {
                return;
            }
            byte[] to = destination.Address.GetAddressBytes();
            var spec = new SegmentSpec
            {
                V6 = peer.V6,
                Source = peer.V6 ? [10, 0, 0, 1] : peer.Address,
                Destination = peer.V6 ? [10, 0, 0, 2] : to,
                Source6 = peer.V6 ? peer.Address : new byte[16],
                Destination6 = peer.V6 ? to : new byte[16],
                SourcePort = peer.Port,
                DestinationPort = (ushort)destination.Port,
                Sequence = seq,
                Acknowledgment = ack,
                Flags = flags,
                Window = window,
                TcpOptions = syn ? [2, 4, 0x05, 0xB4, 1, 3, 3, 7] : [], // MSS 1460, window scale 7
                Payload = payload.ToArray(),
            };
            _link.InjectInbound(_pool.RentCopy(spec.Build()));
        }

        /// <summary>A UDP datagram or an echo request of <paramref name="length"/> bytes from <paramref name="peer"/>.</summary>
        private void SendIp(Peer peer, IPEndPoint destination, IpProtocol protocol, int length)
        {
            int ip = peer.V6 ? 40 : 20;
            byte[] packet = new byte[ip + 8 + length];
            Span<byte> p = packet;
            byte[] to = destination.Address.GetAddressBytes();
            if (peer.V6)
            {
                p[0] = 0x60;
                BinaryPrimitives.WriteUInt16BigEndian(p[4..], (ushort)(8 + length));
                p[6] = (byte)protocol;
                p[7] = 64;
                peer.Address.CopyTo(p[8..]);
                to.CopyTo(p[24..]);
            }
            else
            {
                p[0] = 0x45;
                BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)packet.Length);
                p[8] = 64;
                p[9] = (byte)protocol;
                peer.Address.CopyTo(p[12..]);
                to.AsSpan(^4).CopyTo(p[16..]);
            }
            Span<byte> l4 = p[ip..];
            if (protocol == IpProtocol.Udp)
            {
                BinaryPrimitives.WriteUInt16BigEndian(l4, peer.Port);
                BinaryPrimitives.WriteUInt16BigEndian(l4[2..], (ushort)destination.Port);
                BinaryPrimitives.WriteUInt16BigEndian(l4[4..], (ushort)(8 + length));
            }
            else
            {
                l4[0] = protocol == IpProtocol.Icmp ? (byte)8 : (byte)128; // echo request (RFC 792; RFC 4443 §4.1)
                BinaryPrimitives.WriteUInt16BigEndian(l4[4..], peer.Port);
                BinaryPrimitives.WriteUInt16BigEndian(l4[6..], (ushort)length);
            }
            Payload.AsSpan(0, length).CopyTo(l4[8..]);
            PacketChecksums.Fix(packet);
            _link.InjectInbound(_pool.RentCopy(packet));
        }

        /// <summary>The next sequence number a peer expects, from a TCP segment the stack sent to it.</summary>
        private void Learn(ReadOnlySpan<byte> head, int length)
        {
            if (head.Length < 20)
            {
                return;
            }
            bool v6 = head[0] >> 4 == 6;
            int offset = v6 ? 40 : (head[0] & 0xF) * 4;
            if (head.Length < offset + 20 || head[v6 ? 6 : 9] != (byte)IpProtocol.Tcp)
            {
                return;
            }
            ReadOnlySpan<byte> tcp = head[offset..];
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(tcp[2..]);
            if (port < 40000 || port > 40003)
            {
                return;
            }
            Peer peer = _peers[port - 40000];
            if (peer.V6 != v6)
            {
                return;
            }
            var flags = (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(tcp[12..]) & 0x1FF);
            uint seq = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
            int payload = length - offset - ((tcp[12] >> 4) * 4);
            uint end = seq + (uint)Math.Max(payload, 0) + ((flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((flags & TcpFlags.Fin) != 0 ? 1u : 0u);
            if ((flags & TcpFlags.Syn) != 0 || (int)(end - peer.RcvNxt) > 0)
            {
                peer.RcvNxt = end;
            }
        }
    }

    /// <summary>
    /// Host sockets as socket pairs (AF_UNIX): the forwarder gets one end, the target drives the other. TCP dials
    /// connect, fail or stay pending as <see cref="Decision"/> says; UDP port 9 is unreachable; ping sockets are not allowed.
    /// </summary>
    private sealed partial class PeerSockets : HostSockets, IDisposable
    {
        private readonly List<Socket> _tcp = [];
        private readonly List<Socket> _udp = [];
        private readonly List<TaskCompletionSource<Socket>> _pending = [];
        private readonly byte[] _read = new byte[16384];

        /// <summary>Decides the next dial: 0–3 connected, 4 refused, 5 host unreachable, 6 network unreachable, 7 pending.</summary>
        public byte Decision { get; set; }

        internal override ValueTask<Socket> ConnectTcpAsync(IPEndPoint target, CancellationToken cancellationToken)
        {
            if ((Decision & 7) == 7)
            {
                var pending = new TaskCompletionSource<Socket>();
                cancellationToken.Register(static s => ((TaskCompletionSource<Socket>)s!).TrySetCanceled(), pending);
                lock (_pending)
                {
                    _pending.Add(pending); // a dial waiting for a slot starts on the thread pool
                }
                return new ValueTask<Socket>(pending.Task);
            }
            return Outcome(Decision) is { } error
                ? ValueTask.FromException<Socket>(new SocketException((int)error))
                : ValueTask.FromResult(Pair(SocketType.Stream, _tcp));
        }

        internal override Socket ConnectUdp(IPEndPoint target) =>
            target.Port == 9 ? throw new SocketException((int)SocketError.NetworkUnreachable) : Pair(SocketType.Dgram, _udp);

        internal override Socket OpenEcho(bool v4) => throw new SocketException((int)SocketError.AccessDenied);

        /// <summary>Completes every pending dial as <paramref name="decision"/> says (7: connected).</summary>
        public void CompletePending(byte decision)
        {
            TaskCompletionSource<Socket>[] all;
            lock (_pending)
            {
                all = [.. _pending];
                _pending.Clear();
            }
            foreach (TaskCompletionSource<Socket> pending in all)
            {
                if (pending.Task.IsCompleted)
                {
                    continue;
                }
                if (Outcome(decision) is { } error)
                {
                    pending.TrySetException(new SocketException((int)error));
                    continue;
                }
                Socket socket = Pair(SocketType.Stream, _tcp);
                if (!pending.TrySetResult(socket))
                {
                    socket.Dispose();
                }
            }
        }

        public void ActTcp(int index, int action, byte amount)
        {
            if (Pick(_tcp, index) is not { } peer)
            {
                return;
            }
            try
            {
                switch (action)
                {
                    case 0:
                        peer.Send(Payload.AsSpan(0, Math.Min(amount * 64, Payload.Length)), SocketFlags.None, out _);
                        break;
                    case 1:
                        peer.Shutdown(SocketShutdown.Send);
                        break;
                    case 2:
                        peer.Dispose();
                        break;
                    case 3:
                        peer.LingerState = new LingerOption(true, 0);
                        peer.Dispose();
                        break;
                    default:
                        while (peer.Available > 0 && peer.Receive(_read, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
                        {
                        }
                        break;
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // the forwarder closed its end, or this one is closed already
            }
        }

        public void ActUdp(int index, bool close, byte length)
        {
            if (Pick(_udp, index) is not { } peer)
            {
                return;
            }
            try
            {
                if (close)
                {
                    peer.Dispose();
                }
                else
                {
                    peer.Send(Payload.AsSpan(0, length), SocketFlags.None, out _);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            lock (_tcp)
            {
                _tcp.ForEach(s => s.Dispose());
            }
            lock (_udp)
            {
                _udp.ForEach(s => s.Dispose());
            }
        }

        /// <summary>The peer at <paramref name="index"/> (modulo the count), or null when there is none yet.</summary>
        private static Socket? Pick(List<Socket> peers, int index)
        {
            lock (peers)
            {
                return peers.Count == 0 ? null : peers[index % peers.Count];
            }
        }

        private static SocketError? Outcome(byte decision) => (decision & 7) switch
        {
            4 => SocketError.ConnectionRefused,
            5 => SocketError.HostUnreachable,
            6 => SocketError.NetworkUnreachable,
            _ => null,
        };

        /// <summary>A connected AF_UNIX pair: returns the forwarder's end and keeps the peer's, non-blocking.</summary>
        private static Socket Pair(SocketType type, List<Socket> peers)
        {
            Span<int> fds = stackalloc int[2];
            if (SocketPair(1 /* AF_UNIX */, (int)type | 0x80000 /* SOCK_CLOEXEC */, 0, fds) != 0)
            {
                throw new SocketException(Marshal.GetLastPInvokeError());
            }
            var peer = new Socket(new SafeSocketHandle(fds[1], ownsHandle: true)) { Blocking = false };
            lock (peers)
            {
                peers.Add(peer);
            }
            return new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
        }

        [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
        private static partial int SocketPair(int domain, int type, int protocol, Span<int> fds);
    }
}
