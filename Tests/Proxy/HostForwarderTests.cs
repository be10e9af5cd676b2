// The forwarder's TCP relay end to end: a sandbox stack's connections reach real loopback sockets through a
// HostForwarder, bytes intact, half-close and reset carried both ways, refusals shaped as the host saw them, memory
// bounded under back-pressure, nothing leaked after thousands of connections.
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using NetStack.Icmp;
using NetStack.Proxy;
using NetStack.Tcp;
using NetStack.Udp;

namespace NetStack.Tests.Proxy;

public sealed class HostForwarderTests
{
    private static Socket Listen(out IPEndPoint endPoint)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(2048);
        endPoint = (IPEndPoint)listener.LocalEndPoint!;
        return listener;
    }

    /// <summary>A sandbox connection through the forwarder to the gateway, and the host loopback socket it reached.</summary>
    private sealed record RelayedPair(TcpConnection Sandbox, Socket Host) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Host.Dispose();
            await Sandbox.DisposeAsync();
        }
    }

    private static async Task<RelayedPair> RelayedPairAsync(ProxyWorld world)
    {
        using Socket listener = Listen(out IPEndPoint host);
        Task<Socket> accepted = listener.AcceptAsync();
        TcpConnection connection = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port));
        return new RelayedPair(connection, await accepted.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task<byte[]> HashReadAsync(Stream stream, long expected)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
        }
        Assert.Equal(expected, total);
        return hash.GetHashAndReset();
    }

    /// <summary>
    /// Writes <paramref name="length"/> bytes and returns their SHA-256, hashed as they go (no buffer of the whole):
    /// one random 64 KiB block whose first 8 bytes carry the block's number, so a block lost, repeated or reordered
    /// changes the hash as surely as a flipped bit, without the cost of fresh random bytes per block.
    /// </summary>
    private static async Task<byte[]> HashWriteAsync(Stream stream, long length, int seed)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[64 * 1024];
        new Random(seed).NextBytes(buffer);
        long block = 0;
        for (long sent = 0; sent < length; sent += buffer.Length)
        {
            BitConverter.TryWriteBytes(buffer, block++);
            int n = (int)Math.Min(buffer.Length, length - sent);
            hash.AppendData(buffer, 0, n);
            await stream.WriteAsync(buffer.AsMemory(0, n));
        }
        return hash.GetHashAndReset();
    }

    [Fact]
    public async Task Relay_OneGiBEachWay_ArriveIntactAndEveryBufferReturns()
    {
        const long Length = 1L << 30;
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        using Socket listener = Listen(out IPEndPoint host);
        Task<(byte[] Up, byte[] Down)> server = Task.Run(async () =>
        {
            using Socket peer = await listener.AcceptAsync();
            await using var stream = new NetworkStream(peer);
            Task<byte[]> down = HashWriteAsync(stream, Length, 2);
            byte[] up = await HashReadAsync(stream, Length);
            byte[] d = await down;
            peer.Shutdown(SocketShutdown.Send);
            return (up, d);
        });
        await using TcpConnection connection = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port));
        Task<byte[]> received = HashReadAsync(connection, Length);
        byte[] sent = await HashWriteAsync(connection, Length, 1);
        connection.ShutdownSend();
        (byte[] up, byte[] down) = await server.WaitAsync(TimeSpan.FromMinutes(10)); // a hang guard, not a timing
        Assert.Equal(sent, up);
        Assert.Equal(down, await received.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal(Length, world.Forwarder.Metrics.BytesUp);
        Assert.Equal(Length, world.Forwarder.Metrics.BytesDown);
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.OpenConnections == 0, "the relay to end");
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.TcpClosed]);
    }

    [SkippableFact]
    public async Task Dns_NamesTheHostResolves_AnswerThroughTheForwarderAsOnTheHost()
    {
        string? binary = Dnsmasq.Binary();
        Skip.If(binary is null, "dnsmasq is not installed (.ci/run installs dnsmasq-base)");
        // A real DNS server on loopback as the host's resolver: it answers the host's /etc/hosts names, as the host's
        // own lookup does for them, and one name of its own (so an answer cannot come from anywhere else).
        using Dnsmasq server = await Dnsmasq.StartAsync(binary!, "198.51.100.7 forwarded.netstack.test\n");
        await using var world = ProxyWorld.Create(new ProxyOptions { Resolvers = [server.EndPoint] });
        var expected = new Dictionary<string, IPAddress[]> { ["forwarded.netstack.test"] = [IPAddress.Parse("198.51.100.7")] };
        foreach (string name in HostsFileNames())
        {
            // What the host's resolver says for the name (getaddrinfo: /etc/hosts first).
            expected[name] = await Dns.GetHostAddressesAsync(name, AddressFamily.InterNetwork);
        }
        using UdpEndpoint udp = world.Sandbox.Stack.Udp.CreateEndpoint();
        ushort id = 100;
        foreach ((string name, IPAddress[] addresses) in expected)
        {
            // Over UDP (RFC 1035 §4.2.1) ...
            await udp.SendToAsync(DnsWire.Query(++id, name), new IPEndPoint(ProxyWorld.Dns4, 53));
            byte[] buffer = new byte[512];
            UdpReceiveFromResult r = await udp.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(new IPEndPoint(ProxyWorld.Dns4, 53), r.RemoteEndPoint);
            AssertSameAddresses(name, addresses, DnsWire.Addresses(buffer.AsSpan(0, r.ReceivedBytes), id));

            // ... and over TCP, each message after a two-byte length (RFC 1035 §4.2.2).
            await using TcpConnection tcp = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(ProxyWorld.Dns4, 53));
            byte[] query = DnsWire.Query(++id, name);
            await tcp.WriteAsync(new byte[] { (byte)(query.Length >> 8), (byte)query.Length }.Concat(query).ToArray());
            byte[] answer = await ReadExactlyAsync(tcp, 2);
            answer = await ReadExactlyAsync(tcp, (answer[0] << 8) | answer[1]);
            AssertSameAddresses(name, addresses, DnsWire.Addresses(answer, id));
        }
        Assert.True(world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowCreated] >= 1);
    }

    /// <summary>The names of the host's /etc/hosts with an IPv4 address (those the host resolves without any DNS).</summary>
    private static IEnumerable<string> HostsFileNames()
    {
        if (!File.Exists("/etc/hosts"))
        {
            return [];
        }
        return File.ReadLines("/etc/hosts")
            .Select(line => line.Split('#')[0].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            .Where(words => words.Length >= 2 && IPAddress.TryParse(words[0], out IPAddress? a) && a.AddressFamily == AddressFamily.InterNetwork)
            .SelectMany(words => words.Skip(1))
            // .NET answers these itself, without asking the resolver: localhost names, and the machine's own name (its interfaces' addresses).
            .Where(name => !name.Equals("localhost", StringComparison.OrdinalIgnoreCase) && !name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
                && !name.Equals(Dns.GetHostName(), StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Take(8);
    }

    private static void AssertSameAddresses(string name, IPAddress[] expected, IPAddress[] answered)
    {
        string Sorted(IPAddress[] addresses) => string.Join(", ", addresses.Select(a => a.ToString()).Distinct().Order(StringComparer.Ordinal));
        Assert.True(Sorted(expected) == Sorted(answered), $"{name}: the host says [{Sorted(expected)}], the forwarder's answer [{Sorted(answered)}]");
    }

    private static async Task<byte[]> ReadExactlyAsync(TcpConnection connection, int length)
    {
        byte[] buffer = new byte[length];
        await connection.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return buffer;
    }

    [Fact]
    public async Task Dial_HostRefuses_SandboxGetsReset()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        int closedPort;
        using (Socket probe = Listen(out IPEndPoint ep))
        {
            closedPort = ep.Port;
        }
        var error = await Assert.ThrowsAsync<SocketException>(() => world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, closedPort)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.DialRefused]);
        Assert.Equal(0, world.Forwarder.Metrics.OpenConnections);
    }

    [Fact]
    public async Task Policy_GatewayWithoutHostLoopback_RefusedWithIcmpAdministrativelyProhibited()
    {
        await using var world = ProxyWorld.Create();
        using Socket listener = Listen(out IPEndPoint host);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAnyAsync<Exception>(() => world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port), cancellationToken: cts.Token));
        Assert.True(world.Forwarder.Metrics.Refusals[ProxyRefusal.HostLoopback] >= 1);
        Assert.True(world.Gateway.Stack.Icmp.Events[IcmpEvent.ErrorsSent] >= 1);
        Assert.True(world.Sandbox.Stack.Icmp.Events[IcmpEvent.ErrorsReceived] >= 1);
        Assert.False(listener.Poll(0, SelectMode.SelectRead)); // nothing reached the host
    }

    [Fact]
    public async Task Policy_LinkLocalDestination_RefusedAndCounted()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { RefuseWithReset = true });
        var error = await Assert.ThrowsAsync<SocketException>(() => world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("169.254.169.254"), 80)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Refusals[ProxyRefusal.LinkLocal]);
    }

    [Fact]
    public async Task HalfClose_EachWay_TheOtherDirectionKeepsFlowing()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        await using RelayedPair pair = await RelayedPairAsync(world);
        (TcpConnection connection, Socket peer) = (pair.Sandbox, pair.Host);
        await connection.WriteAsync("up"u8.ToArray());
        connection.ShutdownSend(); // sandbox FIN → the host peer reads EOF
        byte[] buffer = new byte[16];
        int n = await peer.ReceiveAsync(buffer);
        Assert.Equal("up", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(0, await peer.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)));
        await peer.SendAsync("down"u8.ToArray()); // the other way still flows
        n = await connection.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("down", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        peer.Shutdown(SocketShutdown.Send); // host EOF → FIN to the sandbox
        Assert.Equal(0, await connection.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.OpenConnections == 0, "the relay to end");
    }

    [Fact]
    public async Task Reset_HostPeerAborts_SandboxSeesReset()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        await using RelayedPair pair = await RelayedPairAsync(world);
        (TcpConnection connection, Socket peer) = (pair.Sandbox, pair.Host);
        peer.LingerState = new LingerOption(true, 0);
        peer.Dispose(); // RST
        var error = await Assert.ThrowsAsync<IOException>(async () => await connection.ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.HostReset]);
    }

    [Fact]
    public async Task Reset_SandboxAborts_HostPeerSeesConnectionReset()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        await using RelayedPair pair = await RelayedPairAsync(world);
        (TcpConnection connection, Socket peer) = (pair.Sandbox, pair.Host);
        connection.Abort(); // RST
        var error = await Assert.ThrowsAsync<SocketException>(async () => await peer.ReceiveAsync(new byte[16]).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.True(1 == world.Forwarder.Metrics.Events[ProxyEvent.SandboxReset], world.Forwarder.Metrics.Describe());
    }

    [Fact]
    public async Task BackPressure_HostPeerStopsReading_ForwarderMemoryStaysBounded()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        await using RelayedPair pair = await RelayedPairAsync(world);
        (TcpConnection connection, Socket peer) = (pair.Sandbox, pair.Host);
        byte[] block = new byte[64 * 1024];
        long written = 0;
        using var stall = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            while (written < (256L << 20))
            {
                await connection.WriteAsync(block, stall.Token);
                written += block.Length;
            }
        }
        catch (OperationCanceledException)
        {
        }
        // The sandbox's writes stall (the forwarder's window closed): far less than 256 MiB went; what the forwarder
        // holds (taken from the sandbox, not yet in the host socket) is at most its receive window.
        Assert.True(written < (64L << 20), $"{written} bytes were taken with the host peer not reading");
        long held = written - world.Forwarder.Metrics.BytesUp;
        Assert.True(held < (24L << 20), $"{held} bytes between the sandbox and the host socket");
    }

    [Fact]
    public async Task BackPressure_SandboxStopsReading_HostSocketWindowCloses()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        await using RelayedPair pair = await RelayedPairAsync(world);
        (TcpConnection connection, Socket peer) = (pair.Sandbox, pair.Host);
        peer.Blocking = false;
        byte[] block = new byte[64 * 1024];
        long written = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            int n = peer.Send(block, SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock)
            {
                await Task.Delay(50);
                continue;
            }
            written += n;
        }
        Assert.True(written < (64L << 20), $"{written} bytes were taken with the sandbox not reading");
        Assert.True(world.Forwarder.Metrics.BytesDown < (32L << 20));
    }

    [Fact]
    public async Task ShortConnections_ThousandsInARow_NothingLeaks()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        using Socket listener = Listen(out IPEndPoint host);
        using var stop = new CancellationTokenSource();
        Task server = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    Socket peer = await listener.AcceptAsync(stop.Token);
                    _ = Task.Run(async () =>
                    {
                        using (peer)
                        {
                            byte[] b = new byte[16];
                            int n = await peer.ReceiveAsync(b);
                            await peer.SendAsync(b.AsMemory(0, n));
                            peer.Shutdown(SocketShutdown.Send);
                        }
                    });
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        int fdsBefore = OpenDescriptors();
        const int Count = 5000;
        byte[] buffer = new byte[16];
        for (int i = 0; i < Count; i++)
        {
            await using TcpConnection c = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port));
            await c.WriteAsync("ping"u8.ToArray());
            c.ShutdownSend();
            Assert.Equal(4, await c.ReadAsync(buffer));
        }
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.OpenConnections == 0, "every relay to end", 30);
        Assert.Equal(Count, world.Forwarder.Metrics.Events[ProxyEvent.TcpClosed]);
        stop.Cancel();
        await server;
        await ProxyWorld.EventuallyAsync(() => OpenDescriptors() <= fdsBefore + 8, $"descriptors back to {fdsBefore} (now {OpenDescriptors()})", 30);
    }

    [Fact]
    public async Task ConcurrentConnections_AThousandAtOnce_AllRelayAndAllClose()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true });
        using Socket listener = Listen(out IPEndPoint host);
        var peers = new List<Socket>();
        Task server = Task.Run(async () =>
        {
            for (int i = 0; i < 1000; i++)
            {
                peers.Add(await listener.AcceptAsync());
            }
        });
        var connections = new TcpConnection[1000];
        for (int i = 0; i < connections.Length; i++)
        {
            connections[i] = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port));
        }
        await server.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1000, world.Forwarder.Metrics.OpenConnections);
        foreach (Socket p in peers)
        {
            p.Shutdown(SocketShutdown.Send);
        }
        byte[] b = new byte[1];
        foreach (TcpConnection c in connections)
        {
            Assert.Equal(0, await c.ReadAsync(b).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
            await c.DisposeAsync();
        }
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.OpenConnections == 0, "every relay to end", 30);
        peers.ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task SynFlood_ToABlackHoledDestination_ExcessDroppedAtOnceAndCountedThenALegitimateConnectionSucceeds()
    {
        var sockets = new BlackHoleSockets(IPAddress.Parse("192.0.2.1")); // TEST-NET-1 (RFC 5737): dials hang until released
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true, MaxPendingDials = 4 }, sockets: sockets);
        using var flood = new CancellationTokenSource();
        var attempts = new List<Task>();
        for (int i = 0; i < 100; i++)
        {
            attempts.Add(world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 1000 + i), cancellationToken: flood.Token));
        }
        // Every SYN past the 4 dials is dropped as it arrives (Linux's full listen queue), not queued behind them.
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Refusals[ProxyRefusal.DialLimit] >= 96, "the excess SYNs to be refused");
        TcpForwarder hook = world.Gateway.Stack.Tcp.Forwarder!;
        Assert.Equal(4, world.Forwarder.Metrics.DialsInFlight);
        Assert.Equal(4, sockets.MaxConcurrent);
        Assert.True(hook.Pending <= 4, $"{hook.Pending} requests pending");
        Assert.True(hook.Events[TcpForwarderEvent.HandlerDrops] >= 96);
        Assert.Equal(0, world.Forwarder.Metrics.Events[ProxyEvent.DialTimedOut]); // refused at once, not after waiting for a slot

        flood.Cancel(); // the flood gives up; its dials end when the black hole answers
        await Task.WhenAll(attempts.Select(a => a.ContinueWith(_ => { }))).WaitAsync(TimeSpan.FromSeconds(10));
        sockets.Release();
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.DialsInFlight == 0, "the dials to end");
        Assert.True(sockets.MaxConcurrent <= 4, $"{sockets.MaxConcurrent} dials at once");

        await using RelayedPair pair = await RelayedPairAsync(world); // a later legitimate connection gets a slot
        await pair.Sandbox.WriteAsync("ok"u8.ToArray());
        byte[] buffer = new byte[2];
        Assert.Equal(2, await pair.Host.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, world.Forwarder.Metrics.OpenConnections);
    }

    [Fact]
    public async Task Sweep_AFlowCloseThrows_FaultCountedLoggedAndTheSweepGoesOn()
    {
        var sockets = new FaultyCloseSockets();
        var log = new ErrorCountingLoggerFactory();
        await using var world = ProxyWorld.Create(new ProxyOptions { AllowHostLoopback = true, UdpIdleTimeout = TimeSpan.FromMilliseconds(200) },
            sockets: sockets, loggerFactory: log);
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var target = new IPEndPoint(world.Gateway.Ipv4, ((IPEndPoint)peer.LocalEndPoint!).Port);
        using UdpEndpoint endpoint = world.Sandbox.Stack.Udp.CreateEndpoint();

        await endpoint.SendToAsync("a"u8.ToArray(), target); // its host socket's close throws when the flow expires
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Events[ProxyEvent.Fault] == 1 && log.Errors == 1, "the fault to be caught and logged");
        Assert.Equal(0, world.Forwarder.Metrics.UdpFlows);

        await endpoint.SendToAsync("b"u8.ToArray(), target); // the timer still runs: the next flow expires as usual
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Metrics.Events[ProxyEvent.UdpFlowExpired] == 2, "the second flow to expire");
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.Fault]);
        Assert.Equal(1, log.Errors);
        Assert.Equal(0, world.Forwarder.Metrics.UdpFlows);
    }

    /// <summary>The kernel's sockets, except that dials to one address hang until <see cref="Release"/> (then are refused).</summary>
    private sealed class BlackHoleSockets(IPAddress blackHole) : HostSockets
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _inFlight;
        private int _maxConcurrent;

        public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

        public void Release() => _released.TrySetResult();

        internal override async ValueTask<Socket> ConnectTcpAsync(IPEndPoint target, CancellationToken cancellationToken)
        {
            if (!target.Address.Equals(blackHole))
            {
                return await base.ConnectTcpAsync(target, cancellationToken);
            }
            int now = Interlocked.Increment(ref _inFlight);
            int max;
            while (now > (max = Volatile.Read(ref _maxConcurrent)) && Interlocked.CompareExchange(ref _maxConcurrent, now, max) != max)
            {
            }
            try
            {
                await _released.Task.WaitAsync(cancellationToken);
                throw new SocketException((int)SocketError.ConnectionRefused);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    /// <summary>The kernel's sockets, except that the first UDP flow's socket throws when closed.</summary>
    private sealed class FaultyCloseSockets : HostSockets
    {
        private int _handedOut;

        internal override Socket ConnectUdp(IPEndPoint target)
        {
            if (Interlocked.Exchange(ref _handedOut, 1) != 0)
            {
                return base.ConnectUdp(target);
            }
            var socket = new ThrowingOnCloseSocket(target.AddressFamily);
            socket.Connect(target);
            return socket;
        }

        private sealed class ThrowingOnCloseSocket(AddressFamily family) : Socket(family, SocketType.Dgram, ProtocolType.Udp)
        {
            private int _thrown;

            protected override void Dispose(bool disposing)
            {
                base.Dispose(disposing);
                if (disposing && Interlocked.Exchange(ref _thrown, 1) == 0)
                {
                    throw new InvalidOperationException("close failed");
                }
            }
        }
    }

    /// <summary>Counts the error-level log entries of every logger it makes.</summary>
    private sealed class ErrorCountingLoggerFactory : ILoggerFactory, ILogger
    {
        private int _errors;

        public int Errors => Volatile.Read(ref _errors);

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error)
            {
                Interlocked.Increment(ref _errors);
            }
        }

        public void Dispose()
        {
        }
    }

    private static int OpenDescriptors() => OperatingSystem.IsLinux() ? Directory.GetFiles("/proc/self/fd").Length : 0;

    [Fact]
    public async Task KeepAlive_SandboxGoesSilent_ProbedThenHostPeerReset()
    {
        await using var world = ProxyWorld.Create(new ProxyOptions
        {
            AllowHostLoopback = true,
            KeepAlive = TimeSpan.FromSeconds(1),
            KeepAliveInterval = TimeSpan.FromSeconds(1),
            KeepAliveProbes = 2,
        });
        using Socket listener = Listen(out IPEndPoint host);
        Task<Socket> accepted = listener.AcceptAsync();
        await using TcpConnection connection = await world.Sandbox.Stack.Tcp.ConnectAsync(new IPEndPoint(world.Gateway.Ipv4, host.Port));
        using Socket peer = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
        await ProxyWorld.EventuallyAsync(() => world.Forwarder.Relays.Any(), "the relay to start");
        Socket hostSide = world.Forwarder.Relays.Single().Host;
        Assert.NotEqual(0, (int)hostSide.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive)!);
        Assert.Equal(1, (int)hostSide.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime)!);
        Assert.Equal(2, (int)hostSide.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount)!);

        // RFC 1122 §4.2.3.6: the idle sandbox is probed; it answers, so the connection stays.
        await ProxyWorld.EventuallyAsync(() => world.Gateway.Stack.Tcp.Events[TcpEvent.KeepaliveProbes] >= 3, "probes to the sandbox");
        Assert.Equal(TcpState.Established, connection.State);
        Assert.Equal(1, world.Forwarder.Metrics.OpenConnections);

        world.Sandbox.Connected = false; // the sandbox goes silent: the probes go unanswered
        var error = await Assert.ThrowsAsync<SocketException>(async () => await peer.ReceiveAsync(new byte[1]).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
        Assert.Equal(1, world.Forwarder.Metrics.Events[ProxyEvent.SandboxReset]);
    }
}
