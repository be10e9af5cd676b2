// `netstack serve`: a stack on a TUN device with the test services running on it, and its optional capture (a pcap
// tap on both of the TUN layer's decorator chains).
using Microsoft.Extensions.Logging;
using NetStack.Buffers;
using NetStack.Cli.Iperf3;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Link.Tun;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>
/// A stack on a TUN device with the test services of `netstack serve` running on it. Used by the command and,
/// in-process, by the interop tests.
/// </summary>
public sealed class StackHost : IAsyncDisposable
{
    private readonly List<TcpService> _services = [];
    private UdpEchoService? _udpEcho;
    private HttpService? _http;
    private TimeSpan _idleTimeout;
    private readonly PcapWriter? _capture;

    private StackHost(TunEndpoint tun, NetworkStack stack, TcpProtocol tcp, PcapWriter? capture)
    {
        Tun = tun;
        Stack = stack;
        Tcp = tcp;
        _capture = capture;
    }

    /// <summary>
    /// The buffer pool of serve's stacks: the shared pool's size classes, but more free chunks kept: 16384 of 16 KiB
    /// (send buffers live in that class, and each grows to 2 × cwnd, up to 4 MiB: iperf3 -P 32 swings the number in
    /// use by thousands) and 4096 of 64 KiB (inbound super-packets) instead of 1024 and 256. Every chunk the pool
    /// cannot keep is garbage on the pinned heap until a gen-2 GC: with 1024 kept, -P 32 -R peaked at 761 MB RSS
    /// (139,413 misses), with 16384 at 280 MB (12,949; BENCHMARKS.md). Free chunks are kept only up to the peak in use.
    /// </summary>
    public static PacketBufferPool Pool { get; } = new(new PacketBufferPoolOptions { MaxRetained = [8192, 16384, 4096] }, "serve");

    /// <summary>The TUN endpoint.</summary>
    public TunEndpoint Tun { get; }

    /// <summary>The stack.</summary>
    public NetworkStack Stack { get; }

    /// <summary>Its TCP.</summary>
    public TcpProtocol Tcp { get; }

    /// <summary>The TCP services running (the HTTP service is <see cref="Http"/>).</summary>
    public IReadOnlyList<TcpService> Services => _services;

    /// <summary>The HTTP service (Kestrel over the stack), or null when disabled.</summary>
    public HttpService? Http => _http;

    /// <summary>"name/port" of every service running, for the ready line.</summary>
    public IEnumerable<string> ServiceNames =>
        _services.Select(s => $"{s.Name}/{s.Port}").Concat(_http is null ? [] : [$"{_http.Name}/{_http.Port}"]);

    /// <summary>Opens (or attaches to) the TUN device, sets its MTU, brings it up, builds the stack and starts the services.</summary>
    public static StackHost Start(ServeOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        PcapWriter? capture = options.Pcap is null ? null : new PcapWriter(options.Pcap);
        TunEndpoint? tun = null;
        try
        {
            tun = TunEndpoint.Open(options.Tun, TunOptions(options, loggerFactory, capture));
            if (tun.Device.GetMtu() != options.Mtu)
            {
                tun.Device.SetMtu(options.Mtu);
            }
            tun.Device.SetUp();
            return Start(tun, options, loggerFactory, capture);
        }
        catch
        {
            tun?.Dispose();
            capture?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The TUN endpoint options that <paramref name="options"/> asks for; with <paramref name="capture"/>, a pcap tap
    /// on both directions at the stack's edge of the device.
    /// </summary>
    public static TunEndpointOptions TunOptions(ServeOptions options, ILoggerFactory? loggerFactory, PcapWriter? capture = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var tun = new TunEndpointOptions
        {
            Mtu = options.Mtu,
            Offload = options.Offload,
            InboundGso = options.InboundGso,
            TrustKernelChecksums = options.TrustKernelChecksums,
            InlineWrites = options.InlineWrites,
            AckFilter = options.AckFilter,
            TcpGroOnWrite = options.TcpGroOnWrite,
            UdpGroOnWrite = options.UdpGroOnWrite,
            Pool = Pool,
            Name = options.Tun,
            LoggerFactory = loggerFactory,
            Inbound = capture is null ? null : sink => new PcapTapSink(sink, capture),
            Outbound = capture is null ? null : sink => new PcapTapSink(sink, capture),
        };
        return options.OutboundQueue is int queue ? tun with { OutboundQueueCapacity = queue } : tun;
    }

    /// <summary>
    /// Builds the stack over an open endpoint (which the host then owns, with <paramref name="capture"/>, the writer
    /// its taps write to) and starts everything.
    /// </summary>
    public static StackHost Start(TunEndpoint tun, ServeOptions options, ILoggerFactory? loggerFactory = null, PcapWriter? capture = null)
    {
        ArgumentNullException.ThrowIfNull(tun);
        ArgumentNullException.ThrowIfNull(options);
        var stack = new NetworkStack(new NetworkStackOptions
        {
            Name = options.Tun, // the stack tag of its instruments: dashboards tell stacks apart by their device
            Pool = Pool,
            LoggerFactory = loggerFactory,
            Tcp = ProtocolOptions(options),
        });
        Nic nic = stack.CreateNic(tun.Channel, options.Tun);
        foreach (NetPrefix address in options.Addresses)
        {
            nic.AddAddress(address);
        }
        TcpProtocol tcp = stack.Tcp;
        var host = new StackHost(tun, stack, tcp, capture) { _idleTimeout = options.IdleTimeout };
        host.StartService(new EchoService(), options.EchoPort);
        host.StartService(new DiscardService(), options.DiscardPort);
        host.StartService(new ChargenService(), options.ChargenPort);
        // iperf3 3.12 reads a results message with one non-blocking read loop that gives up on EAGAIN: the
        // message must not wait behind Nagle (RFC 9293 §3.7.4) for an ACK.
        host.StartService(new Iperf3Server(), options.Iperf3Port, tcp.Options.Connection with { NoDelay = true });
        if (options.EchoPort != 0)
        {
            host._udpEcho = new UdpEchoService();
            host._udpEcho.Start(stack, options.EchoPort);
        }
        if (options.HttpPort != 0)
        {
            host._http = new HttpService();
            host._http.Start(stack, options.HttpPort, tcp.Options.Connection);
        }
        tun.Start();
        return host;
    }

    /// <summary>The TCP settings of serve's stack.</summary>
    public static TcpProtocolOptions ProtocolOptions(ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var tcp = new TcpProtocolOptions { Connection = ConnectionOptions(options) };
        if (options.OrphanRetries is int orphanRetries)
        {
            tcp = tcp with { OrphanRetries = orphanRetries };
        }
        return options.MaxConnections is int maxConnections ? tcp with { MaxConnections = maxConnections } : tcp;
    }

    /// <summary>The TCP settings of the services' connections.</summary>
    public static TcpConnectionOptions ConnectionOptions(ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var connection = new TcpConnectionOptions { ReceiveBufferSize = options.ReceiveBuffer, SendBufferSize = options.SendBuffer, UserTimeout = options.UserTimeout };
        if (options.MaxReceiveBuffer is int receive)
        {
            connection = connection with { MaxReceiveBufferSize = receive };
        }
        if (options.MaxSendBuffer is int send)
        {
            connection = connection with { MaxSendBufferSize = send };
        }
        return connection;
    }

    private void StartService(TcpService service, int port, TcpConnectionOptions? connectionOptions = null)
    {
        if (port != 0)
        {
            service.IdleTimeout = _idleTimeout;
            service.Start(Tcp, port, connectionOptions);
            _services.Add(service);
        }
    }

    /// <summary>Counters of the device, the stack and every service, one item a line.</summary>
    public string DescribeCounters()
    {
        var lines = new List<string>
        {
            Tun.DescribeCounters(),
            $"ip: events [{Stack.Events}] drops [{Stack.Drops}]",
            $"tcp: events [{Tcp.Events}] drops [{Tcp.Drops}] connections {Tcp.ConnectionCount}",
            $"pool: rentals {Stack.Pool.Rentals} live buffers {Stack.Pool.LiveBuffers} misses {Stack.Pool.Misses}",
        };
        if (Tun.WriteGro is { } gro)
        {
            lines.Add($"gro-on-write: events [{gro.Events}] flushes [{gro.Flushes}]");
        }
        lines.AddRange(_services.Select(s => s.ToString()));
        if (_http is not null)
        {
            lines.Add(_http.ToString());
        }
        if (_udpEcho is not null)
        {
            lines.Add(_udpEcho.ToString());
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>Stops the services, then the device and the stack; every buffer goes back to the pool.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_http is not null)
        {
            await _http.DisposeAsync().ConfigureAwait(false);
        }
        foreach (TcpService service in _services)
        {
            await service.DisposeAsync().ConfigureAwait(false);
        }
        if (_udpEcho is not null)
        {
            await _udpEcho.DisposeAsync().ConfigureAwait(false);
        }
        Tun.Dispose();
        if (_capture is not null)
        {
            await _capture.DisposeAsync().ConfigureAwait(false);
        }
        Stack.Dispose();
    }
}
