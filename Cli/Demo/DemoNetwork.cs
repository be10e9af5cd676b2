// netstack demo: two stacks in one process on a live InMemoryNetwork (GRO on, GSO offered), with optional
// impairments and a pcap capture of the client's side.
using NetStack.Buffers;
using NetStack.Link.Capture;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Cli.Demo;

/// <summary>How the demo's wire is built.</summary>
internal sealed record DemoNetworkOptions
{
    public GsoSupport Gso { get; init; } = GsoSupport.Host;
    public bool Gro { get; init; } = true;
    public int GroMaxFlows { get; init; } = 64;
    public double LossPercent { get; init; }
    public TimeSpan Delay { get; init; }
    public double ReorderPercent { get; init; }
    public int Seed { get; init; } = 1;
    public string? PcapPath { get; init; }
    public int PcapSnapshotLength { get; init; } = 128;
    public TcpConnectionOptions? Connection { get; init; }

    public ImpairmentOptions? Impairment => LossPercent == 0 && Delay == TimeSpan.Zero && ReorderPercent == 0
        ? null
        : new ImpairmentOptions
        {
            LossPercent = LossPercent,
            Delay = Delay,
            ReorderPercent = ReorderPercent,
            ReorderExtraDelay = TimeSpan.FromMilliseconds(1),
            QueueLimit = 200_000, // a delayed wire at multi-Gbit/s holds many packets; loss should come from --loss only
        };
}

/// <summary>
/// The demo's two hosts on a live <see cref="InMemoryNetwork"/>: the client 10.0.0.1 / fd00::1 (captured when asked)
/// and the server 10.0.0.2 / fd00::2, the same impairment on what each sends.
/// </summary>
internal sealed class DemoNetwork : IAsyncDisposable
{
    public static readonly System.Net.IPAddress ClientAddress = System.Net.IPAddress.Parse("10.0.0.1");
    public static readonly System.Net.IPAddress ServerAddress = System.Net.IPAddress.Parse("10.0.0.2");

    private readonly InMemoryNetwork _network;

    public DemoNetwork(DemoNetworkOptions options)
    {
        Options = options;
        _network = new InMemoryNetwork(new InMemoryNetworkOptions
        {
            Seed = options.Seed,
            Pool = new PacketBufferPool(new PacketBufferPoolOptions(), "demo"),
            Gso = options.Gso,
            Gro = options.Gro,
            GroMaxFlows = options.GroMaxFlows,
            Stack = new NetworkStackOptions { Tcp = new TcpProtocolOptions { Connection = options.Connection ?? new TcpConnectionOptions() }, LoggerFactory = CliLogging.FactoryIfAsked },
            Name = "demo",
        });
        ClientHost = _network.AddHost(new InMemoryHostOptions
        {
            Name = "client",
            Ipv4 = ClientAddress,
            OutboundImpairment = options.Impairment,
            PcapPath = options.PcapPath,
            Pcap = new PcapWriterOptions { SnapshotLength = options.PcapSnapshotLength, QueueCapacity = 65536 },
        });
        ServerHost = _network.AddHost(new InMemoryHostOptions { Name = "server", Ipv4 = ServerAddress, OutboundImpairment = options.Impairment });
    }

    public DemoNetworkOptions Options { get; }

    public InMemoryHost ClientHost { get; }

    public InMemoryHost ServerHost { get; }

    public NetworkStack Client => ClientHost.Stack;

    public NetworkStack Server => ServerHost.Stack;

    public ChannelEndpoint ClientLink => ClientHost.Link;

    public ChannelEndpoint ServerLink => ServerHost.Link;

    public TcpProtocol ClientTcp => Client.Tcp;

    public TcpProtocol ServerTcp => Server.Tcp;

    public PcapWriter? Capture => ClientHost.Capture;

    public ValueTask DisposeAsync() => _network.DisposeAsync();
}
