// `netstack run`: what runs on the host side of the sandbox's link, pluggable. ProxySandboxStack, the default, relays
// the sandbox's flows to host sockets through NetStack.Proxy's forwarder (rootless networking, as pasta and
// slirp4netns); ServeSandboxStack runs `netstack serve`'s services (echo, discard, chargen, HTTP, iperf3) on the
// gateway addresses instead, for measuring the stack without host sockets.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NetStack.Cli.Serve;
using NetStack.Link.Capture;
using NetStack.Link.Tun;
using NetStack.Network;
using NetStack.Proxy;

namespace NetStack.Cli.Run;

/// <summary>A stack serving the sandbox: started over its TUN device, disposed when CMD exits.</summary>
public interface ISandboxStack : IAsyncDisposable
{
    /// <summary>The counters, one item a line (printed by <c>--stats</c>).</summary>
    string DescribeCounters();
}

/// <summary>Builds the stack that serves a sandbox.</summary>
public interface ISandboxStackFactory
{
    /// <summary>
    /// Builds and starts a stack over <paramref name="device"/> (a TUN fd the host now owns: the stack disposes it),
    /// configured by <paramref name="options"/>: its addresses are <see cref="SandboxAddresses.GatewayPrefixes"/>,
    /// its link impairments <see cref="LinkImpairments.ApplyTo"/>, its capture <see cref="RunOptions.Pcap"/>.
    /// </summary>
    ISandboxStack Start(TunDevice device, RunOptions options, ILoggerFactory? loggerFactory);
}

/// <summary>The forwarder behind the sandbox: its TCP, UDP, ping and DNS relayed to host sockets (the default).</summary>
public sealed class ProxySandboxStack : ISandboxStack, ISandboxStackFactory
{
    private readonly TunEndpoint? _tun;
    private readonly NetworkStack? _stack;
    private readonly HostForwarder? _forwarder;
    private readonly PcapWriter? _capture;

    /// <summary>The factory.</summary>
    public ProxySandboxStack()
    {
    }

    private ProxySandboxStack(TunEndpoint tun, NetworkStack stack, HostForwarder forwarder, PcapWriter? capture)
    {
        _tun = tun;
        _stack = stack;
        _forwarder = forwarder;
        _capture = capture;
    }

    /// <summary>The running forwarder (null on the factory instance).</summary>
    public HostForwarder? Forwarder => _forwarder;

    /// <summary>
    /// The TCP memory budget of a sandbox's stack: memory pressure from 8 MiB queued across all connections, hard at
    /// 12 MiB, so that the process (about 25 MB idle, NativeAOT) stays within 40 MB under many streams (issue 16)
    /// while one stream still auto-tunes its buffers to full size.
    /// </summary>
    public static NetStack.Tcp.TcpMemoryLimits TcpMemory { get; }
        = NetStack.Tcp.TcpMemoryLimits.ForBytes(8 << 20, 12 << 20);


    /// <summary>The forwarder's options for <paramref name="options"/>: the gateways and DNS addresses, the policy, the port forwards.</summary>
    public static ProxyOptions ProxyOptionsFor(RunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        SandboxAddresses a = options.Addresses;
        ForwardingOptions f = options.Forwarding;
        return new ProxyOptions
        {
            Gateways = a.Ipv6 ? [a.Gateway4, a.Gateway6] : [a.Gateway4],
            DnsAddresses = a.Ipv6 ? [a.Dns4, a.Dns6] : [a.Dns4],
            AllowHostLoopback = f.AllowHostLoopback,
            Allow = f.Allow.Select(r => new ProxyRule(r.Prefix, r.Port)).ToArray(),
            Deny = f.Deny.Select(r => new ProxyRule(r.Prefix, r.Port)).ToArray(),
            PortForwards = f.PortForwards.Select(p =>
            {
                IPAddress host = p.HostAddress?.ToIPAddress() ?? IPAddress.Loopback;
                NetAddress sandbox = host.AddressFamily == AddressFamily.InterNetworkV6 && a.Ipv6 ? a.Sandbox6.Address : a.Sandbox4.Address;
                return new ProxyPortForward(p.Protocol == ForwardProtocol.Tcp ? ProxyProtocol.Tcp : ProxyProtocol.Udp,
                    new IPEndPoint(host, p.HostPort), new IPEndPoint(sandbox.ToIPAddress(), p.SandboxPort));
            }).ToArray(),
        };
    }

    /// <inheritdoc/>
    public ISandboxStack Start(TunDevice device, RunOptions options, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        var serve = new ServeOptions { Tun = device.Name, Addresses = options.Addresses.GatewayPrefixes, Mtu = options.Mtu, Offload = device.HasVnetHeader };
        PcapWriter? capture = null;
        TunEndpoint? tun = null;
        NetworkStack? stack = null;
        try
        {
            capture = options.Pcap is null ? null : new PcapWriter(options.Pcap);
            tun = new TunEndpoint(device, options.Impairments.ApplyTo(StackHost.TunOptions(serve, loggerFactory, capture)));
            stack = new NetworkStack(new NetworkStackOptions
            {
                Pool = StackHost.Pool,
                LoggerFactory = loggerFactory,
                Tcp = new NetStack.Tcp.TcpProtocolOptions { Connection = StackHost.ConnectionOptions(serve), Memory = TcpMemory },
            });
            Nic nic = stack.CreateNic(tun.Channel, device.Name);
            foreach (NetPrefix address in serve.Addresses)
            {
                nic.AddAddress(address);
            }
            HostForwarder forwarder;
            try
            {
                forwarder = new HostForwarder(stack, ProxyOptionsFor(options), loggerFactory);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"a port forward cannot listen: {e.Message}", e);
            }
            tun.Start();
            return new ProxySandboxStack(tun, stack, forwarder, capture);
        }
        catch
        {
            if (tun is null)
            {
                device.Dispose();
            }
            tun?.Dispose();
            stack?.Dispose();
            capture?.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string DescribeCounters()
    {
        if (_stack is null || _tun is null || _forwarder is null)
        {
            return "";
        }
        return string.Join(Environment.NewLine,
            _tun.DescribeCounters(),
            $"ip: events [{_stack.Events}] drops [{_stack.Drops}]",
            $"tcp: events [{_stack.Tcp.Events}] drops [{_stack.Tcp.Drops}] connections {_stack.Tcp.ConnectionCount}",
            $"tcp memory: {_stack.Tcp.Memory}",
            $"gc: allocated {GC.GetTotalAllocatedBytes() >> 10} KiB, collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}, heap {GC.GetGCMemoryInfo().HeapSizeBytes >> 10} KiB",
            $"udp: drops [{_stack.Udp.Drops}]",
            $"pool: rentals {_stack.Pool.Rentals} live buffers {_stack.Pool.LiveBuffers} misses {_stack.Pool.Misses}",
            _forwarder.Metrics.Describe());
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_forwarder is not null)
        {
            await _forwarder.DisposeAsync().ConfigureAwait(false);
        }
        _tun?.Dispose();
        if (_capture is not null)
        {
            await _capture.DisposeAsync().ConfigureAwait(false);
        }
        _stack?.Dispose();
    }
}

/// <summary>`netstack serve`'s services on the gateway addresses, instead of the forwarder (for measuring the stack alone).</summary>
public sealed class ServeSandboxStack : ISandboxStack, ISandboxStackFactory
{
    private readonly StackHost? _host;

    /// <summary>The factory.</summary>
    public ServeSandboxStack()
    {
    }

    private ServeSandboxStack(StackHost host) => _host = host;

    /// <summary>The running host (null on the factory instance).</summary>
    public StackHost? Host => _host;

    /// <inheritdoc/>
    public ISandboxStack Start(TunDevice device, RunOptions options, ILoggerFactory? loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(options);
        var serve = new ServeOptions
        {
            Tun = device.Name,
            Addresses = options.Addresses.GatewayPrefixes,
            Mtu = options.Mtu,
            Offload = device.HasVnetHeader,
            Pcap = options.Pcap,
        };
        TunEndpoint tun;
        try
        {
            tun = new TunEndpoint(device, options.Impairments.ApplyTo(StackHost.TunOptions(serve, loggerFactory)));
        }
        catch
        {
            device.Dispose();
            throw;
        }
        try
        {
            return new ServeSandboxStack(StackHost.Start(tun, serve, loggerFactory));
        }
        catch
        {
            tun.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public string DescribeCounters() => _host?.DescribeCounters() ?? "";

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _host?.DisposeAsync() ?? ValueTask.CompletedTask;
}
