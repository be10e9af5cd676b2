// `netstack run`: what runs on the host side of the sandbox's link, pluggable. The forwarder (issue 15) will be one
// ISandboxStackFactory; until it lands, ServeSandboxStack runs `netstack serve`'s services (echo, discard, chargen,
// HTTP, iperf3) on the gateway addresses, which is what the tests exercise.
using Microsoft.Extensions.Logging;
using NetStack.Cli.Serve;
using NetStack.Link.Tun;

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

/// <summary>`netstack serve`'s services on the gateway addresses (the stand-in until the forwarder exists).</summary>
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
