// StackTelemetry: every instrument of the stack's meters carries the stack's name, so two stacks in one process give
// two series; the dashboard instruments (connections by state, UDP endpoints, bytes, packets and segments each way,
// RTT, handshake and lifetime histograms) follow a real connection; the stack logs state changes and failures at
// debug level, drops at trace level and limits at warning level once a minute, and a disabled level allocates nothing.
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NetStack.Diagnostics;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Udp;

namespace NetStack.Tests.Stack.Diagnostics;

public class StackTelemetryTests
{
    private static readonly string[] s_stackMeters = ["NetStack.Network", "NetStack.Network.Fragmentation", "NetStack.Tcp", "NetStack.Udp", "NetStack.Icmp"];

    /// <summary>One measurement as a MeterListener saw it.</summary>
    private sealed record Seen(string Instrument, string? Stack, double Value, Dictionary<string, object?> Tags);

    /// <summary>Records every measurement of the stack's meters (any stack in the process; tests filter by name).</summary>
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<Seen> _seen = [];

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (s_stackMeters.Contains(instrument.Meter.Name))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
            _listener.Start();
        }

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var all = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                all[tag.Key] = tag.Value;
            }
            lock (_seen)
            {
                _seen.Add(new Seen(instrument.Name, all.GetValueOrDefault(StackTelemetry.StackTag) as string, value, all));
            }
        }

        /// <summary>Collects the observable instruments now and returns everything seen so far.</summary>
        public List<Seen> Collect()
        {
            _listener.RecordObservableInstruments();
            lock (_seen)
            {
                return [.. _seen];
            }
        }

        public void Clear()
        {
            lock (_seen)
            {
                _seen.Clear();
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>The last observed value of <paramref name="instrument"/> for <paramref name="stack"/> with <paramref name="key"/>=<paramref name="value"/>.</summary>
    private static double Last(List<Seen> seen, string instrument, string stack, string? key = null, string? value = null) =>
        seen.Last(s => s.Instrument == instrument && s.Stack == stack && (key is null || Equals(s.Tags.GetValueOrDefault(key), value))).Value;

    private static List<Seen> Recorded(List<Seen> seen, string instrument, string stack) =>
        [.. seen.Where(s => s.Instrument == instrument && s.Stack == stack)];

    private static InMemoryNetwork Deterministic(LeakCheckedPool pool) =>
        new(new InMemoryNetworkOptions { Mode = InMemoryNetworkMode.Deterministic, Seed = 3, Pool = pool.Pool });

    private static InMemoryHost Host(InMemoryNetwork network, string stackName, ILoggerFactory? logging = null, int udpQueue = 1024) =>
        network.AddHost(new InMemoryHostOptions { Stack = new NetworkStackOptions { Name = stackName, LoggerFactory = logging, UdpReceiveQueueCapacity = udpQueue } });

    [Fact]
    public void Name_Default_IsStackNInCreationOrder_Given_IsKept()
    {
        using var first = new NetworkStack();
        using var second = new NetworkStack();
        using var named = new NetworkStack(new NetworkStackOptions { Name = "edge" });
        Assert.Matches("^stack-[0-9]+$", first.Name);
        Assert.Matches("^stack-[0-9]+$", second.Name);
        Assert.True(int.Parse(second.Name[6..], System.Globalization.CultureInfo.InvariantCulture) > int.Parse(first.Name[6..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("edge", named.Name);
    }

    [Fact]
    public void Instruments_TwoStacksInOneProcess_GiveTwoSeriesTaggedWithTheirNames()
    {
        const string A = "telemetry-two-a", B = "telemetry-two-b";
        using var recorder = new Recorder();
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = Host(network, A), b = Host(network, B);
            SimulationDriver driver = network.Driver!;
            using TcpConnectionListener listener = b.Stack.Tcp.Listen(new IPEndPoint(IPAddress.Any, 7));
            using UdpEndpoint udp = a.Stack.Udp.CreateEndpoint();
            udp.Bind(new IPEndPoint(IPAddress.Any, 5353));
            TcpConnection client = a.Stack.Tcp.Connect(new IPEndPoint(b.Ipv4, 7));
            TcpConnection? server = null;
            Assert.True(driver.RunUntil(() => listener.TryAccept(out server), TimeSpan.FromSeconds(5)));
            byte[] data = new byte[20_000];
            Random.Shared.NextBytes(data);
            int written = 0, read = 0;
            byte[] buffer = new byte[4096];
            Assert.True(driver.RunUntil(() =>
            {
                written += client.TryWrite(data.AsSpan(written));
                int n;
                while ((n = server!.TryRead(buffer)) > 0)
                {
                    read += n;
                }
                return read == data.Length;
            }, TimeSpan.FromSeconds(10)));

            List<Seen> open = recorder.Collect();
            // Every measurement of the stack's meters names its stack, whichever stack (other tests run alongside).
            Assert.All(open, s => Assert.NotNull(s.Stack));
            foreach (string stack in new[] { A, B })
            {
                Assert.Equal(1, Last(open, "netstack.tcp.connections", stack, StackTelemetry.StateTag, "established"));
                Assert.Equal(0, Last(open, "netstack.tcp.connections", stack, StackTelemetry.StateTag, "syn_sent"));
                Assert.Single(Recorded(open, "netstack.tcp.handshake.duration", stack));
                Assert.NotEmpty(Recorded(open, "netstack.tcp.events", stack));
                Assert.NotEmpty(Recorded(open, "netstack.tcp.drops", stack));
                Assert.NotEmpty(Recorded(open, "netstack.ip.drops", stack));
                Assert.NotEmpty(Recorded(open, "netstack.icmp.events", stack));
                Assert.NotEmpty(Recorded(open, "netstack.network.reassembly.drops", stack));
            }
            Assert.Equal((0, 1), (Last(open, "netstack.tcp.connections", A, StackTelemetry.StateTag, "listen"), Last(open, "netstack.tcp.connections", B, StackTelemetry.StateTag, "listen")));
            Assert.Equal((1, 0), (Last(open, "netstack.udp.endpoints", A), Last(open, "netstack.udp.endpoints", B)));
            // Bytes and packets each way are the stack's own: A sent the data, B received it, and the two series differ.
            Assert.True(Last(open, "netstack.network.io", A, StackTelemetry.DirectionTag, "transmit") > data.Length);
            Assert.True(Last(open, "netstack.network.io", B, StackTelemetry.DirectionTag, "receive") > data.Length);
            Assert.True(Last(open, "netstack.network.io", A, StackTelemetry.DirectionTag, "receive") < data.Length / 2); // ACKs only
            Assert.Equal(a.Stack.Events[IpEvent.PacketsSent], Last(open, "netstack.network.packets", A, StackTelemetry.DirectionTag, "transmit"));
            Assert.Equal(b.Stack.Tcp.Events[TcpEvent.SegmentsReceived], Last(open, "netstack.tcp.segments", B, StackTelemetry.DirectionTag, "receive"));
            Assert.NotEqual(Last(open, "netstack.tcp.segments", A, StackTelemetry.DirectionTag, "transmit"), Last(open, "netstack.tcp.segments", B, StackTelemetry.DirectionTag, "transmit"));
            Assert.NotEmpty(Recorded(open, "netstack.tcp.rtt", A));
            Assert.All(Recorded(open, "netstack.tcp.rtt", A), s => Assert.InRange(s.Value, 0, 1));

            // An orderly close: B (the passive closer) ends in LAST-ACK → CLOSED, A waits in TIME-WAIT, then ends too.
            recorder.Clear();
            client.ShutdownSend();
            Assert.True(driver.RunUntil(() => server!.TryRead(buffer) == 0, TimeSpan.FromSeconds(5)));
            server!.ShutdownSend();
            Assert.True(driver.RunUntil(() => client.State == TcpState.TimeWait && server.State == TcpState.Closed, TimeSpan.FromSeconds(5)));
            List<Seen> closing = recorder.Collect();
            Assert.Equal(1, Last(closing, "netstack.tcp.connections", A, StackTelemetry.StateTag, "time_wait"));
            Assert.Equal(0, Last(closing, "netstack.tcp.connections", A, StackTelemetry.StateTag, "established"));
            Assert.Equal(0, Last(closing, "netstack.tcp.connections", B, StackTelemetry.StateTag, "last_ack"));
            Seen lifetime = Assert.Single(Recorded(closing, "netstack.tcp.connection.duration", B));
            Assert.False(lifetime.Tags.ContainsKey(StackTelemetry.ErrorTag));
            Assert.Empty(Recorded(closing, "netstack.tcp.connection.duration", A));

            recorder.Clear();
            Assert.True(driver.RunUntil(() => client.State == TcpState.Closed, TimeSpan.FromMinutes(5)));
            List<Seen> closed = recorder.Collect();
            Assert.Equal(0, Last(closed, "netstack.tcp.connections", A, StackTelemetry.StateTag, "time_wait"));
            Assert.True(Assert.Single(Recorded(closed, "netstack.tcp.connection.duration", A)).Value >= 2 * a.Stack.Tcp.Options.MaximumSegmentLifetime.TotalSeconds);
            client.Dispose();
            server.Dispose();
        }
        pool.AssertNoLeaks();
    }

    [Fact]
    public void TcpConnectionRefused_LifetimeCarriesErrorType_GaugeReturnsToZero_LogsStateChangesAndFailureAtDebug_DropAtTrace()
    {
        const string A = "telemetry-refused-a", B = "telemetry-refused-b";
        using var recorder = new Recorder();
        var logsA = new CapturingLoggerFactory(LogLevel.Trace);
        var logsB = new CapturingLoggerFactory(LogLevel.Trace);
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = Host(network, A, logsA), b = Host(network, B, logsB);
            TcpConnection client = a.Stack.Tcp.Connect(new IPEndPoint(b.Ipv4, 9)); // nobody listens: RST
            Assert.True(network.Driver!.RunUntil(() => client.State == TcpState.Closed, TimeSpan.FromSeconds(5)));
            Assert.Equal(SocketError.ConnectionRefused, client.Error);
            List<Seen> seen = recorder.Collect();
            Seen lifetime = Assert.Single(Recorded(seen, "netstack.tcp.connection.duration", A));
            Assert.Equal(nameof(SocketError.ConnectionRefused), lifetime.Tags[StackTelemetry.ErrorTag]);
            Assert.Empty(Recorded(seen, "netstack.tcp.handshake.duration", A));
            Assert.All(Recorded(seen, "netstack.tcp.connections", A), s => Assert.Equal(0, s.Value));
            client.Dispose();
        }
        pool.AssertNoLeaks();
        Assert.Collection(logsA.At(LogLevel.Debug),
            m => Assert.Matches($"^{A}: TCP [^ ]+:[0-9]+<->10.0.0.2:9 Closed -> SynSent$", m),
            m => Assert.Matches($"^{A}: TCP [^ ]+:[0-9]+<->10.0.0.2:9 SynSent -> Closed$", m),
            m => Assert.Matches($"^{A}: TCP [^ ]+:[0-9]+<->10.0.0.2:9 failed in SynSent: ConnectionRefused$", m));
        Assert.Contains(logsB.At(LogLevel.Trace), m => m == $"{B}: TCP drop: {nameof(TcpDropReason.NoConnection)} (1)");
        Assert.Empty(logsA.At(LogLevel.Warning));
    }

    [Fact]
    public void Limit_UdpReceiveQueueFull_IsLoggedOnceAtWarning_EachDropAtTrace()
    {
        const string A = "telemetry-limit-a", B = "telemetry-limit-b";
        var logsB = new CapturingLoggerFactory(LogLevel.Trace);
        using var pool = new LeakCheckedPool();
        using (InMemoryNetwork network = Deterministic(pool))
        {
            InMemoryHost a = Host(network, A), b = Host(network, B, logsB, udpQueue: 2);
            using UdpEndpoint receiver = b.Stack.Udp.CreateEndpoint();
            receiver.Bind(new IPEndPoint(IPAddress.Any, 7000));
            using UdpEndpoint sender = a.Stack.Udp.CreateEndpoint();
            for (int i = 0; i < 12; i++)
            {
                sender.SendTo("datagram"u8, new IPEndPoint(b.Ipv4, 7000));
            }
            network.Driver!.RunUntil(() => b.Stack.Udp.Drops[UdpDropReason.ReceiveQueueFull] == 10, TimeSpan.FromSeconds(1));
            Assert.Equal(10, b.Stack.Udp.Drops[UdpDropReason.ReceiveQueueFull]);
        }
        pool.AssertNoLeaks();
        string warning = Assert.Single(logsB.At(LogLevel.Warning));
        Assert.Equal($"{B}: limit reached: UDP {nameof(UdpDropReason.ReceiveQueueFull)} (0 more times since the last message)", warning);
        Assert.Equal(10, logsB.At(LogLevel.Trace).Count(m => m == $"{B}: UDP drop: {nameof(UdpDropReason.ReceiveQueueFull)} (1)"));
    }

    [Fact]
    public void Increment_WithALoggerAboveTrace_AllocatesNothing()
    {
        var logs = new CapturingLoggerFactory(LogLevel.Information);
        using var stack = new NetworkStack(new NetworkStackOptions { LoggerFactory = logs, Name = "telemetry-alloc" });
        ReasonCounters<TcpDropReason> drops = stack.Tcp.Drops;
        StackTelemetry telemetry = stack.Telemetry;
        for (int i = 0; i < 100; i++)
        {
            drops.Increment(TcpDropReason.OutOfWindow); // warm up: JIT, first use
            telemetry.Received(1500);
            telemetry.TcpRtt(TimeSpan.FromMilliseconds(1));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            drops.Increment(TcpDropReason.OutOfWindow);
            drops.Increment(TcpDropReason.Paws);
            telemetry.Received(1500);
            telemetry.Sent(1500);
            telemetry.TcpRtt(TimeSpan.FromMilliseconds(1));
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(10_100, drops[TcpDropReason.OutOfWindow]);
        Assert.Empty(logs.Messages);
    }

    /// <summary>A logger factory that keeps every message at or above a level, with the level.</summary>
    private sealed class CapturingLoggerFactory(LogLevel minimum) : ILoggerFactory, ILogger
    {
        public List<(LogLevel Level, string Message)> Messages { get; } = [];

        public IEnumerable<string> At(LogLevel level)
        {
            lock (Messages)
            {
                return [.. Messages.Where(m => m.Level == level).Select(m => m.Message)];
            }
        }

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages)
            {
                Messages.Add((logLevel, formatter(state, exception)));
            }
        }

        public void Dispose()
        {
        }
    }
}
