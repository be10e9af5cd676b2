// A named host on a virtual network and the apps that run on it: HttpClient and SocketsHttpHandler, a
// ConnectCallback for any client that takes one, raw TCP streams and listeners, UDP sockets.
using System.Net;
using System.Net.Sockets;
using NetStack.Http;
using NetStack.Link.Simulation;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Simulation;

/// <summary>
/// A host of a <see cref="VirtualNetwork"/>: a userspace stack with an IPv4 and an IPv6 address on its subnet,
/// reaching the other hosts by name. What it creates (clients, listeners, sockets) the network disposes with it.
/// </summary>
public sealed class VirtualHost
{
    private readonly InMemoryHost _port;
    private readonly List<object> _apps = []; // IDisposable or IAsyncDisposable

    internal VirtualHost(VirtualNetwork network, string name, VirtualSubnet subnet, InMemoryHost port, VirtualLink link, int index)
    {
        Network = network;
        Name = name;
        Subnet = subnet;
        _port = port;
        Link = link;
        Index = index;
        ConnectOptions = new NetStackConnectOptions { ResolveHost = (host, _) => ValueTask.FromResult(network.Resolve(host)) };
    }

    /// <summary>The network the host is on.</summary>
    public VirtualNetwork Network { get; }

    /// <summary>The host's name (its DNS name on the network).</summary>
    public string Name { get; }

    /// <summary>The subnet it is on.</summary>
    public VirtualSubnet Subnet { get; }

    /// <summary>Its port on the subnet: impairments per direction, MTU, link down/up.</summary>
    public VirtualLink Link { get; }

    /// <summary>Its IPv4 address.</summary>
    public IPAddress Ipv4 => _port.Ipv4;

    /// <summary>Its IPv6 address.</summary>
    public IPAddress Ipv6 => _port.Ipv6;

    /// <summary>Its stack (for the stack's own APIs and counters).</summary>
    public NetworkStack Stack => _port.Stack;

    /// <summary>How the host's HTTP connections resolve names (the network's DNS) and open (the stack's TCP).</summary>
    public NetStackConnectOptions ConnectOptions { get; }

    /// <summary>
    /// A <see cref="SocketsHttpHandler.ConnectCallback"/> connecting over the host's stack, names resolved by the
    /// network: give it to any client that takes one (gRPC's channel through a handler, a WebSocket client, …).
    /// </summary>
    public Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback => NetStackHttp.ConnectCallback(Stack, ConnectOptions);

    /// <summary>A handler whose connections leave from this host (configure it further as you like; you own it).</summary>
    public SocketsHttpHandler CreateHandler() => NetStackHttp.CreateHandler(Stack, ConnectOptions);

    /// <summary>An <see cref="HttpClient"/> whose requests leave from this host: <c>await client.GetStringAsync("http://api/")</c>. The network disposes it.</summary>
    public HttpClient CreateHttpClient(TimeSpan? timeout = null)
    {
        var client = new HttpClient(CreateHandler(), disposeHandler: true);
        if (timeout is TimeSpan t)
        {
            client.Timeout = t;
        }
        Track(client);
        return client;
    }

    /// <summary>
    /// Opens a TCP connection to <paramref name="host"/> (a host name or an IP literal) and <paramref name="port"/>.
    /// In virtual time the stream's waits run on the harness (deterministic); in real time it is the stack's
    /// <see cref="TcpConnection"/>. The network disposes it.
    /// </summary>
    public async Task<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1, nameof(port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535, nameof(port));
        IPAddress[] addresses = Network.Resolve(host);
        var remote = new IPEndPoint(addresses[0], port);
        if (!Network.IsVirtualTime)
        {
            TcpConnection connection = await Stack.Tcp.ConnectAsync(remote, cancellationToken: cancellationToken).ConfigureAwait(false);
            return Track(connection);
        }
        TcpConnection pending = Track(Stack.Tcp.Connect(remote));
        await Network.WaitUntil(() => pending.State != TcpState.SynSent && pending.State != TcpState.SynReceived, cancellationToken).ConfigureAwait(false);
        if (pending.State != TcpState.Established && pending.State != TcpState.CloseWait)
        {
            SocketError error = pending.Error;
            throw new SocketException((int)(error == SocketError.Success ? SocketError.ConnectionRefused : error));
        }
        return new VirtualStream(Network, pending);
    }

    /// <summary>Listens for TCP connections on <paramref name="port"/> of every address of the host. The network disposes the listener.</summary>
    public VirtualListener Listen(int port, int backlog = 128)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1, nameof(port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535, nameof(port));
        return Track(new VirtualListener(this, Stack.Tcp.Listen(new IPEndPoint(IPAddress.IPv6Any, port), backlog)));
    }

    /// <summary>A UDP socket bound to <paramref name="port"/> (0: an ephemeral port) on every address of the host. The network disposes it.</summary>
    public VirtualUdpSocket BindUdp(int port = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port, nameof(port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535, nameof(port));
        var endpoint = Stack.Udp.CreateEndpoint();
        try
        {
            endpoint.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        }
        catch
        {
            endpoint.Dispose();
            throw;
        }
        return Track(new VirtualUdpSocket(Network, endpoint));
    }

    /// <summary>What happened on the host: connections, retransmissions, timeouts and drops by reason.</summary>
    public HostSummary Summary() => HostSummary.Of(this);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({Ipv4}, {Ipv6})";

    internal int Index { get; }

    internal InMemoryHost Port => _port;

    internal T Track<T>(T app) where T : class
    {
        lock (_apps)
        {
            _apps.Add(app);
        }
        return app;
    }

    /// <summary>Disposes what the host's apps left open (web apps, clients, connections, listeners, sockets), newest first.</summary>
    internal async ValueTask DisposeAppsAsync()
    {
        object[] apps;
        lock (_apps)
        {
            apps = [.. _apps];
            _apps.Clear();
        }
        for (int i = apps.Length - 1; i >= 0; i--)
        {
            if (apps[i] is IAsyncDisposable async)
            {
                await async.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                ((IDisposable)apps[i]).Dispose();
            }
        }
    }
}
