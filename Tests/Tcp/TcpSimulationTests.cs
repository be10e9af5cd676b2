using System.Net;
using System.Security.Cryptography;
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;
using NetStack.Tests.Support;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Two stacks over a simulated wire (PipeLink + ImpairmentStage, seeded) driven by the SimulationDriver on a
/// ManualClock: byte-exact transfers (SHA-256) under loss, reordering and duplication; many short connections
/// with no leaked buffers or connections. Set NETSTACK_TCP_BIG=1 for 100 MiB transfers.
/// </summary>
public class TcpSimulationTests
{
    private sealed class World : IDisposable
    {
        public readonly ManualClock Clock = new();
        public readonly LeakCheckedPool Pool = new(new PacketBufferPoolOptions { DebugTracking = false });
        public readonly ChannelEndpoint LinkA = new(new ChannelEndpointOptions { Gso = GsoSupport.None, Name = "a" });
        public readonly ChannelEndpoint LinkB = new(new ChannelEndpointOptions { Gso = GsoSupport.None, Name = "b" });
        public readonly NetworkStack A;
        public readonly NetworkStack B;
        public readonly TcpProtocol TcpA;
        public readonly TcpProtocol TcpB;
        public readonly PipeLink Wire;
        public readonly SimulationDriver Driver;

        public World(ImpairmentOptions? impairment, int seed)
        {
            A = new NetworkStack(new NetworkStackOptions { TimeProvider = Clock, Pool = Pool.Pool });
            B = new NetworkStack(new NetworkStackOptions { TimeProvider = Clock, Pool = Pool.Pool });
            A.CreateNic(LinkA).AddAddress(NetPrefix.Parse("10.0.0.1/24"));
            B.CreateNic(LinkB).AddAddress(NetPrefix.Parse("10.0.0.2/24"));
            var delay = impairment ?? new ImpairmentOptions();
            delay = delay with { Delay = TimeSpan.FromMilliseconds(2), QueueLimit = 10000 };
            TcpA = TcpProtocol.Attach(A, new TcpProtocolOptions { IsnSecret = [1], RandomSeed = seed });
            TcpB = TcpProtocol.Attach(B, new TcpProtocolOptions { IsnSecret = [2], RandomSeed = seed + 1 });
            Wire = new PipeLink(LinkA, LinkB, LinkB, LinkA, new PipeLinkOptions { AToB = delay, BToA = delay, Seed = seed, TimeProvider = Clock });
            Driver = new SimulationDriver(Clock, Wire);
        }

        public void Dispose()
        {
            Wire.Dispose();
            A.Dispose();
            B.Dispose();
            LinkA.Close();
            LinkB.Close();
        }

        /// <summary>After Dispose: every buffer went back to the pool.</summary>
        public void AssertNoLeaks() => Pool.AssertNoLeaks();
    }

    /// <summary>One direction of a transfer: writes a seeded byte stream, hashes what arrives.</summary>
    private sealed class Flow(int length, int seed)
    {
        private readonly byte[] _data = Packets.Payload(length, seed);
        private readonly IncrementalHash _received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private int _sent;
        private bool _shutdown;
        public long Received { get; private set; }
        public bool Eof { get; private set; }

        public bool Pump(TcpConnection writer, TcpConnection reader, byte[] scratch)
        {
            bool progress = false;
            if (_sent < _data.Length)
            {
                int n = writer.TryWrite(_data.AsSpan(_sent));
                _sent += n;
                progress |= n > 0;
            }
            else if (!_shutdown)
            {
                writer.ShutdownSend();
                _shutdown = true;
                progress = true;
            }
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

        public void AssertExact()
        {
            Assert.True(Eof);
            Assert.Equal(_data.Length, Received);
            Assert.Equal(SHA256.HashData(_data), _received.GetHashAndReset());
        }
    }

    public static TheoryData<double, double, double, int> Impairments => new()
    {
        { 0, 0, 0, 1 },
        { 1, 1, 1, 2 },
        { 5, 2, 2, 3 },
    };

    [Theory]
    [MemberData(nameof(Impairments))]
    public void Transfer_Both_Directions_Is_Byte_Exact(double lossPercent, double reorderPercent, double duplicatePercent, int seed)
    {
        int size = Environment.GetEnvironmentVariable("NETSTACK_TCP_BIG") == "1" ? 100 << 20 : 2 << 20;
        ImpairmentOptions? impairment = lossPercent == 0 && reorderPercent == 0 ? null : new ImpairmentOptions
        {
            LossPercent = lossPercent,
            ReorderPercent = reorderPercent,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(3),
            DuplicatePercent = duplicatePercent,
        };
        var world = new World(impairment, seed);
        using (world)
        {
        using TcpConnectionListener listener = world.TcpB.Listen(new IPEndPoint(IPAddress.Any, 80));
        TcpConnection client = world.TcpA.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80));
        TcpConnection? server = null;
        var up = new Flow(size, seed * 10);
        var down = new Flow(size / 2, seed * 10 + 1);
        var scratch = new byte[64 * 1024];
        bool done = world.Driver.RunUntil(
            () => up.Eof && down.Eof,
            TimeSpan.FromMinutes(30),
            idle: () =>
            {
                if (server is null)
                {
                    if (!listener.TryAccept(out server))
                    {
                        return false;
                    }
                }
                if (client.State == TcpState.SynSent)
                {
                    return false;
                }
                try
                {
                    return up.Pump(client, server, scratch) | down.Pump(server, client, scratch);
                }
                catch (IOException e)
                {
                    throw new InvalidOperationException($"{e.Message} at {world.Clock.Elapsed}: up {up.Received}, down {down.Received}\nclient {client.GetStatistics()}\nserver {server?.GetStatistics()}\nA drops {world.TcpA.Drops} events {world.TcpA.Events}\nB drops {world.TcpB.Drops} events {world.TcpB.Events}", e);
                }
            });
        Assert.True(done, $"transfer stalled: up {up.Received}, down {down.Received}, client {client.GetStatistics()}, server {server?.GetStatistics()}");
        up.AssertExact();
        down.AssertExact();
        client.Dispose();
        server!.Dispose();
        // Let TIME-WAIT (2·MSL) pass: every connection and buffer must be gone.
        world.Driver.RunUntil(() => world.TcpA.ConnectionCount == 0 && world.TcpB.ConnectionCount == 0, TimeSpan.FromMinutes(5));
        Assert.Equal(0, world.TcpA.ConnectionCount);
        Assert.Equal(0, world.TcpB.ConnectionCount);
        listener.Dispose();
        }
        world.AssertNoLeaks();
    }

    [Fact]
    public void Many_Short_Connections_Leak_Nothing()
    {
        var world = new World(new ImpairmentOptions { LossPercent = 2 }, seed: 11);
        using (world)
        {
        using TcpConnectionListener listener = world.TcpB.Listen(new IPEndPoint(IPAddress.Any, 80));
        var scratch = new byte[4096];
        for (int i = 0; i < 50; i++)
        {
            TcpConnection client = world.TcpA.Connect(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80));
            TcpConnection? server = null;
            var up = new Flow(1000 + i, i);
            var down = new Flow(300, i + 1000);
            bool done = world.Driver.RunUntil(
                () => up.Eof && down.Eof,
                TimeSpan.FromMinutes(5),
                idle: () =>
                {
                    if (server is null && !listener.TryAccept(out server))
                    {
                        return false;
                    }
                    if (client.State == TcpState.SynSent)
                    {
                        return false;
                    }
                    return up.Pump(client, server!, scratch) | down.Pump(server!, client, scratch);
                });
            Assert.True(done, $"connection {i} stalled");
            up.AssertExact();
            down.AssertExact();
            client.Dispose();
            server!.Dispose();
        }
        world.Driver.RunUntil(() => world.TcpA.ConnectionCount == 0 && world.TcpB.ConnectionCount == 0, TimeSpan.FromMinutes(5));
        Assert.Equal(0, world.TcpA.ConnectionCount);
        Assert.Equal(0, world.TcpB.ConnectionCount);
        listener.Dispose();
        }
        world.AssertNoLeaks();
    }
}
