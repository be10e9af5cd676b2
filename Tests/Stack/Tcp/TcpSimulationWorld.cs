// The TCP simulations' world: two stacks on a deterministic InMemoryNetwork, seeded impairments both ways, an optional
// trace of every packet; and SimulatedFlow, a seeded byte stream hashed on both ends.
using System.Net;
using System.Security.Cryptography;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// Two stacks (10.0.0.1 and 10.0.0.2) on a deterministic <see cref="InMemoryNetwork"/> with seeded impairments,
/// driven by its SimulationDriver on a ManualClock: every packet that crosses the wire can be traced.
/// </summary>
internal sealed class TcpSimulationWorld : IDisposable
{
    public static readonly IPEndPoint ServerEndPoint = new(IPAddress.Parse("10.0.0.2"), 80);

    public readonly LeakCheckedPool Pool = new(new PacketBufferPoolOptions { DebugTracking = false });
    public readonly InMemoryNetwork Network;
    public readonly ManualClock Clock;
    public readonly ChannelEndpoint LinkA;
    public readonly ChannelEndpoint LinkB;
    public readonly NetworkStack A;
    public readonly NetworkStack B;
    public readonly TcpProtocol TcpA;
    public readonly TcpProtocol TcpB;
    public readonly (PipeLinkDirection AToB, PipeLinkDirection BToA) Wire;
    public readonly SimulationDriver Driver;

    /// <param name="impairment">Both directions' impairments (a 2 ms delay is always added).</param>
    /// <param name="seed">Seeds the wire and both TCPs.</param>
    /// <param name="trace">Sees every packet as it enters each receiving endpoint (bytes, virtual time, direction).</param>
    /// <param name="options">TCP options for both sides (ISN secrets and seeds are filled in).</param>
    public TcpSimulationWorld(ImpairmentOptions? impairment, int seed, Action<bool, TimeSpan, PacketBuffer>? trace = null, TcpProtocolOptions? options = null, GsoSupport gso = GsoSupport.None, PipeLinkGso wireGso = PipeLinkGso.Auto, TimeSpan? delay = null)
    {
        options ??= new TcpProtocolOptions();
        var wire = (impairment ?? new ImpairmentOptions()) with { Delay = delay ?? TimeSpan.FromMilliseconds(2), QueueLimit = 10000 };
        Network = new InMemoryNetwork(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Seed = seed, Pool = Pool.Pool, Gso = gso, WireGso = wireGso });
        Clock = Network.Driver!.Clock;
        InMemoryHost a = Network.AddHost(Host("a", seed, [1], options, wire, trace, toB: false));
        InMemoryHost b = Network.AddHost(Host("b", seed + 1, [2], options, wire, trace, toB: true));
        (A, B, LinkA, LinkB, TcpA, TcpB) = (a.Stack, b.Stack, a.Link, b.Link, a.Stack.Tcp, b.Stack.Tcp);
        Wire = (a.Wire, b.Wire);
        Driver = Network.Driver;
    }

    private InMemoryHostOptions Host(string name, int seed, byte[] isnSecret, TcpProtocolOptions options, ImpairmentOptions wire, Action<bool, TimeSpan, PacketBuffer>? trace, bool toB) => new()
    {
        Name = name,
        Stack = new NetworkStackOptions { RandomSeed = seed, Tcp = options with { IsnSecret = isnSecret, RandomSeed = seed } },
        OutboundImpairment = wire,
        Inbound = trace is null ? null : link => new TracingSink(link, Clock, toB, trace),
    };

    public void Dispose() => Network.Dispose();

    /// <summary>After Dispose: every buffer went back to the pool.</summary>
    public void AssertNoLeaks() => Pool.AssertNoLeaks();

    /// <summary>Runs until both TCPs hold no connection (TIME-WAIT included) or <paramref name="limit"/> passes.</summary>
    public void RunUntilAllClosed(TimeSpan limit)
    {
        Driver.RunUntil(() => TcpA.ConnectionCount == 0 && TcpB.ConnectionCount == 0, limit);
        Assert.Equal(0, TcpA.ConnectionCount);
        Assert.Equal(0, TcpB.ConnectionCount);
    }

    public string Describe(params TcpConnection?[] connections) =>
        $"t={Clock.Elapsed} {string.Join(" | ", connections.Select(c => c?.GetStatistics().ToString() ?? "-"))}\nA drops {TcpA.Drops} events {TcpA.Events}\nB drops {TcpB.Drops} events {TcpB.Events}";

    /// <summary>Hands every packet to the trace (direction, virtual time, bytes) on its way into the receiving link.</summary>
    private sealed class TracingSink(IPacketSink inner, ManualClock clock, bool toB, Action<bool, TimeSpan, PacketBuffer> trace) : PacketSinkDecorator(inner)
    {
        public override void Enqueue(PacketBuffer packet)
        {
            trace(toB, clock.Elapsed, packet);
            Inner.Enqueue(packet);
        }
    }
}

/// <summary>One direction of a transfer: writes a seeded byte stream without blocking, hashes what arrives.</summary>
internal sealed class SimulatedFlow(long length, int seed)
{
    private readonly byte[] _pattern = Packets.Payload(1 << 16, seed);
    private readonly IncrementalHash _sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _written;
    private bool _shutdown;

    public long Length => length;

    public long Received { get; private set; }

    public bool Eof { get; private set; }

    /// <summary>Shut the send side down once everything is written (true), or leave it open.</summary>
    public bool ShutdownWhenDone { get; init; } = true;

    public bool WriteDone => _written == length;

    /// <summary>Writes what the send buffer takes. Returns true if anything happened.</summary>
    public bool PumpWrite(TcpConnection writer)
    {
        bool progress = false;
        while (_written < length)
        {
            int offset = (int)(_written % _pattern.Length);
            int chunk = (int)Math.Min(_pattern.Length - offset, length - _written);
            int n = writer.TryWrite(_pattern.AsSpan(offset, chunk));
            if (n == 0)
            {
                break;
            }
            _sent.AppendData(_pattern, offset, n);
            _written += n;
            progress = true;
        }
        if (_written == length && ShutdownWhenDone && !_shutdown)
        {
            writer.ShutdownSend();
            _shutdown = true;
            progress = true;
        }
        return progress;
    }

    /// <summary>Reads what has arrived. Returns true if anything happened.</summary>
    public bool PumpRead(TcpConnection reader, byte[] scratch)
    {
        bool progress = false;
        while (!Eof)
        {
            int n = reader.TryRead(scratch);
            if (n < 0)
            {
                break;
            }
            if (n == 0)
            {
                Eof = true;
                progress = true;
                break;
            }
            _received.AppendData(scratch, 0, n);
            Received += n;
            progress = true;
        }
        return progress;
    }

    public bool Pump(TcpConnection writer, TcpConnection reader, byte[] scratch) => PumpWrite(writer) | PumpRead(reader, scratch);

    /// <summary>Every byte arrived, in order, then EOF.</summary>
    public void AssertExact()
    {
        Assert.True(Eof, $"no EOF after {Received} of {length} bytes");
        Assert.Equal(length, Received);
        Assert.Equal(_sent.GetHashAndReset(), _received.GetHashAndReset());
    }
}
