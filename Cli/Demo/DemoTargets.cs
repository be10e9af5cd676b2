// netstack demo: where the demo runs — two NetStack stacks in one process (the product), or the kernel's sockets on
// 127.0.0.1 (the same-work baseline of --kernel and --compare): the same HTTP service, client, transfers and hashing.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using NetStack.Cli.Serve;
using NetStack.Gro;
using NetStack.Http;
using NetStack.Link.Channels;
using NetStack.Link.Simulation;
using NetStack.Tcp;

namespace NetStack.Cli.Demo;

/// <summary>One side of the comparison: the server it started, a client for it, a bare-TCP transfer, its own figures.</summary>
internal interface IDemoTarget : IAsyncDisposable
{
    /// <summary>"netstack" or "kernel".</summary>
    string Name { get; }

    /// <summary>The header lines of a run.</summary>
    string Describe(DemoOptions options);

    /// <summary>Starts the HTTP service and returns a client for it.</summary>
    Task<HttpClient> StartAsync(DemoOptions options, CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="length"/> pattern bytes server → client over a bare connection, hashed as it arrives.</summary>
    Task<TransferResult> RawTcpAsync(long length, TransferProgress progress, CancellationToken cancellationToken);

    /// <summary>Figures only this target has (TCP statistics, GRO, the wire, the capture).</summary>
    void PrintDetails(TextWriter output);
}

/// <summary>Kestrel on 10.0.0.2 and HttpClient on 10.0.0.1, two stacks on a live in-memory network.</summary>
internal sealed class StackDemoTarget(DemoNetworkOptions net) : IDemoTarget
{
    private readonly ConcurrentQueue<TcpConnection> _clientConnections = new();
    private DemoNetwork? _network;
    private HttpService? _server;
    private SocketsHttpHandler? _handler;

    public string Name => "netstack";

    public string Describe(DemoOptions options) => string.Create(CultureInfo.InvariantCulture,
        $"""
        netstack demo: Kestrel on 10.0.0.2:80 ⇄ HttpClient on 10.0.0.1, two stacks in one process on an in-memory network
          {(options.Http2 ? "HTTP/2 (h2c)" : "HTTP/1.1")}, GRO {(net.Gro ? $"on ({net.GroMaxFlows} flows)" : "off")}, GSO {net.Gso}, {(net.Connection?.CongestionControl ?? NetStack.Tcp.Congestion.TcpCongestionControl.Cubic)}, loss {net.LossPercent} %, delay {net.Delay.TotalMilliseconds} ms, reorder {net.ReorderPercent} %, seed {net.Seed}{(net.PcapPath is null ? "" : ", capture → " + net.PcapPath)}
        """);

    public async Task<HttpClient> StartAsync(DemoOptions options, CancellationToken cancellationToken)
    {
        _network = new DemoNetwork(net);
        _server = new HttpService();
        await _server.StartAsync(_network.Server, 80, protocols: options.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1, cancellationToken: cancellationToken).ConfigureAwait(false);
        _handler = NetStackHttp.CreateHandler(_network.Client);
        var connect = _handler.ConnectCallback!;
        _handler.ConnectCallback = async (context, token) =>
        {
            Stream stream = await connect(context, token).ConfigureAwait(false);
            _clientConnections.Enqueue((TcpConnection)stream);
            return stream;
        };
        return DemoRun.CreateClient(_handler, new Uri("http://10.0.0.2/"), options.Http2);
    }

    public async Task<TransferResult> RawTcpAsync(long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        DemoNetwork network = _network!;
        using TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, 5001));
        Task<TcpConnection> accepted = listener.AcceptAsync(cancellationToken).AsTask();
        await using TcpConnection client = await network.ClientTcp.ConnectAsync(new IPEndPoint(DemoNetwork.ServerAddress, 5001), cancellationToken: cancellationToken).ConfigureAwait(false);
        await using TcpConnection server = await accepted.ConfigureAwait(false);
        return await DemoTransfers.RawAsync(server, () => server.ShutdownSend(), client, length, progress, cancellationToken).ConfigureAwait(false);
    }

    public void PrintDetails(TextWriter output)
    {
        DemoNetwork network = _network!;
        TcpConnection? bulkClient = _clientConnections.OrderByDescending(c => c.GetStatistics().BytesReceived + c.GetStatistics().BytesSent).FirstOrDefault();
        PrintTcp(output, "client", bulkClient?.GetStatistics());
        PrintTcp(output, "server", _server!.LastBulkConnection?.GetStatistics());
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"TCP connections opened by the client: {_clientConnections.Count}; client drops: {Nz(network.ClientTcp.Drops.ToString())}; server drops: {Nz(network.ServerTcp.Drops.ToString())}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"link queue full (segments lost before the wire): client {network.ClientTcp.Events[TcpEvent.LinkQueueFull]:N0}, server {network.ServerTcp.Events[TcpEvent.LinkQueueFull]:N0}"));
        PrintGro(output, "client", network.ClientLink);
        PrintGro(output, "server", network.ServerLink);
        if (network.Options.Impairment is not null)
        {
            output.WriteLine($"wire: client→server {Wire(network.ClientHost.OutboundImpairment)}; server→client {Wire(network.ServerHost.OutboundImpairment)}");
        }
        if (network.Capture is { } capture)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"capture: {capture.Captured:N0} packets → {capture.Path} (dropped: {capture.DroppedQueueFull:N0} queue full)"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _handler?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
        if (_network is not null)
        {
            await _network.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static void PrintTcp(TextWriter output, string side, TcpConnectionStatistics? s)
    {
        if (s is null)
        {
            return;
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TCP {side}: SRTT {s.SmoothedRtt.TotalMilliseconds:F3} ms (var {s.RttVariance.TotalMilliseconds:F3}), MSS {s.MaxSegmentSize}, cwnd {s.CongestionWindow:N0} B, segments out {s.SegmentsSent:N0} / in {s.SegmentsReceived:N0}, retransmits {s.Retransmissions:N0} ({DemoRun.FormatBytes(s.BytesRetransmitted)}), fast retransmits {s.FastRetransmits:N0}, timeouts {s.Timeouts:N0}, SACK {(s.Sack ? "on" : "off")}"));
    }

    private static void PrintGro(TextWriter output, string side, ChannelEndpoint link)
    {
        if (link.Gro is not { } gro)
        {
            return;
        }
        long input = gro.Events[GroEvent.PacketsIn];
        long delivered = gro.Events[GroEvent.SuperSegmentsOut] + gro.Events[GroEvent.SinglesOut] + gro.Events[GroEvent.PassThrough];
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"GRO {side}: {input:N0} packets in → {delivered:N0} delivered ({(delivered == 0 ? 0 : (double)input / delivered):F1} per delivery), {gro.Events[GroEvent.SuperSegmentsOut]:N0} super-segments; flushes: {Nz(gro.Flushes.ToString())}"));
    }

    private static string Wire(ImpairmentStage? stage) => stage is null ? "clean" : string.Create(CultureInfo.InvariantCulture,
        $"{stage.Received:N0} packets, lost {stage.DroppedLoss:N0}, reordered {stage.Reordered:N0}, queue-full drops {stage.DroppedQueueFull:N0}");

    private static string Nz(string? s) => string.IsNullOrEmpty(s) ? "none" : s;
}

/// <summary>The same service and client on the kernel's TCP over 127.0.0.1 (no impairments: loopback has none).</summary>
internal sealed class KernelDemoTarget : IDemoTarget
{
    private HttpService? _server;
    private SocketsHttpHandler? _handler;

    public string Name => "kernel";

    public string Describe(DemoOptions options) => string.Create(CultureInfo.InvariantCulture,
        $"""
        netstack demo --kernel: Kestrel ⇄ HttpClient on the kernel's sockets over 127.0.0.1 (the same work without NetStack)
          {(options.Http2 ? "HTTP/2 (h2c)" : "HTTP/1.1")}, the kernel's TCP and loopback device
        """);

    public async Task<HttpClient> StartAsync(DemoOptions options, CancellationToken cancellationToken)
    {
        _server = new HttpService();
        await _server.StartOnSocketsAsync(new IPEndPoint(IPAddress.Loopback, 0), options.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1, cancellationToken).ConfigureAwait(false);
        _handler = new SocketsHttpHandler { UseProxy = false };
        return DemoRun.CreateClient(_handler, new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{_server.Port}/")), options.Http2);
    }

    public async Task<TransferResult> RawTcpAsync(long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var connecting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Task<Socket> accepted = listener.AcceptAsync(cancellationToken).AsTask();
        await connecting.ConnectAsync(listener.LocalEndPoint!, cancellationToken).ConfigureAwait(false);
        using Socket serverSocket = await accepted.ConfigureAwait(false);
        await using var server = new NetworkStream(serverSocket, ownsSocket: false);
        await using var client = new NetworkStream(connecting, ownsSocket: false);
        return await DemoTransfers.RawAsync(server, () => serverSocket.Shutdown(SocketShutdown.Send), client, length, progress, cancellationToken).ConfigureAwait(false);
    }

    public void PrintDetails(TextWriter output)
    {
    }

    public async ValueTask DisposeAsync()
    {
        _handler?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
