// netstack demo: two stacks in one process over the in-memory pipe link (GRO on, GSO offered), live on the system
// clock, with optional impairments and a pcap capture of the client's side.
using NetStack.Buffers;
using NetStack.Link;
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

/// <summary>Client stack 10.0.0.1 / fd00::1 and server stack 10.0.0.2 / fd00::2 joined by a <see cref="PipeLink"/> running in the background.</summary>
internal sealed class DemoNetwork : IAsyncDisposable
{
    public static readonly System.Net.IPAddress ClientAddress = System.Net.IPAddress.Parse("10.0.0.1");
    public static readonly System.Net.IPAddress ServerAddress = System.Net.IPAddress.Parse("10.0.0.2");

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    public DemoNetwork(DemoNetworkOptions options)
    {
        Options = options;
        Pool = new PacketBufferPool(new PacketBufferPoolOptions(), "demo");
        ClientLink = new ChannelEndpoint(new ChannelEndpointOptions { Name = "client", Gso = options.Gso, GroMaxFlows = options.GroMaxFlows, EnableGro = options.Gro });
        ServerLink = new ChannelEndpoint(new ChannelEndpointOptions { Name = "server", Gso = options.Gso, GroMaxFlows = options.GroMaxFlows, EnableGro = options.Gro });
        var tcpOptions = new TcpProtocolOptions { Connection = options.Connection ?? new TcpConnectionOptions() };
        Client = new NetworkStack(new NetworkStackOptions { Pool = Pool, Tcp = tcpOptions });
        Server = new NetworkStack(new NetworkStackOptions { Pool = Pool, Tcp = tcpOptions });
        ILinkEndpoint clientNic = ClientLink;
        if (options.PcapPath is { } path)
        {
            Capture = new PcapWriter(path, new PcapWriterOptions { SnapshotLength = options.PcapSnapshotLength, QueueCapacity = 65536 });
            clientNic = new PcapTapEndpoint(ClientLink, Capture);
        }
        Nic clientNicOnStack = Client.CreateNic(clientNic);
        clientNicOnStack.AddAddress(NetPrefix.Parse("10.0.0.1/24"));
        clientNicOnStack.AddAddress(NetPrefix.Parse("fd00::1/64"));
        Nic serverNic = Server.CreateNic(ServerLink);
        serverNic.AddAddress(NetPrefix.Parse("10.0.0.2/24"));
        serverNic.AddAddress(NetPrefix.Parse("fd00::2/64"));
        ClientTcp = Client.Tcp;
        ServerTcp = Server.Tcp;
        ImpairmentOptions? impairment = options.Impairment;
        Wire = new PipeLink(ClientLink, ServerLink, ServerLink, ClientLink, new PipeLinkOptions { AToB = impairment, BToA = impairment, Seed = options.Seed, Name = "demo" });
        _run = Wire.RunAsync(_stop.Token);
    }

    public DemoNetworkOptions Options { get; }

    public PacketBufferPool Pool { get; }

    public ChannelEndpoint ClientLink { get; }

    public ChannelEndpoint ServerLink { get; }

    public NetworkStack Client { get; }

    public NetworkStack Server { get; }

    public TcpProtocol ClientTcp { get; }

    public TcpProtocol ServerTcp { get; }

    public PipeLink Wire { get; }

    public PcapWriter? Capture { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(false);
        Wire.Dispose();
        Client.Dispose();
        Server.Dispose();
        ClientLink.Close();
        ServerLink.Close();
        if (Capture is not null)
        {
            await Capture.DisposeAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}
