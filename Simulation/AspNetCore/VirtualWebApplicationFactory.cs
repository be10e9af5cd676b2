// An existing ASP.NET Core app (its Program, top-level statements or Main, unchanged) started on a virtual host, the
// way Microsoft.AspNetCore.Mvc.Testing's WebApplicationFactory starts it in memory, but served by Kestrel over the
// host's stack, so its clients reach it by name across the virtual network and its impairments.
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace NetStack.Simulation.AspNetCore;

/// <summary>
/// A <see cref="WebApplicationFactory{TEntryPoint}"/> that runs the app of <typeparamref name="TEntryPoint"/>'s
/// assembly on a <see cref="VirtualHost"/>: <c>await using var api = new VirtualWebApplicationFactory&lt;Program&gt;(net.AddHost("api"));</c>.
/// The app's entry point runs as it would in production (its own builder, configuration, services and endpoints;
/// the factory intercepts the host it builds, as WebApplicationFactory does); Kestrel then listens on the host's IPv4
/// and IPv6 addresses at <see cref="Port"/> over the host's stack (see
/// <see cref="VirtualHostWebExtensions.UseVirtualHost"/>: URLs from configuration and Kestrel's default
/// <c>localhost:5000</c> are replaced, never bound on the machine). Clients come from virtual hosts
/// (<see cref="CreateClient(VirtualHost)"/>) and cross the network with its impairments.
/// </summary>
/// <remarks>
/// <para>Everything WebApplicationFactory offers works: <see cref="WebApplicationFactory{TEntryPoint}.Services"/>,
/// the environment (Development), content root discovery, overriding <see cref="ConfigureWebHost"/> (call the base
/// first) and <see cref="WithWebHostBuilder"/> (for <c>ConfigureTestServices</c>). What differs is the server: Kestrel
/// over the virtual network rather than the in-memory TestServer, so <c>Server</c> is not available and clients made
/// through the base class's <c>CreateDefaultClient</c> (real sockets) are refused.</para>
/// <para>The network disposes the factory (stopping the app) before the host's stack; disposing it earlier is fine.
/// Kestrel and HttpClient keep real time: run such tests with <see cref="NetworkTime.Real"/> (docs/harness.md).</para>
/// </remarks>
/// <typeparam name="TEntryPoint">A type in the app's assembly, usually its <c>Program</c>.</typeparam>
public class VirtualWebApplicationFactory<TEntryPoint> : WebApplicationFactory<TEntryPoint> where TEntryPoint : class
{
    private readonly Action<ListenOptions>? _listen;
    private readonly Action<IWebHostBuilder>? _parent; // set on a factory made by WithWebHostBuilder: the parent's configuration
    private readonly Lock _gate = new();
    private VirtualHost? _clientHost;

    /// <summary>Serves the app from <paramref name="host"/> at <paramref name="port"/> (80 by default, so <c>http://name/</c> works).</summary>
    /// <param name="host">The virtual host the app runs on.</param>
    /// <param name="port">The port of both endpoints.</param>
    /// <param name="listen">Configures both endpoints (for gRPC without TLS: <c>l =&gt; l.Protocols = HttpProtocols.Http2</c>).</param>
    public VirtualWebApplicationFactory(VirtualHost host, int port = 80, Action<ListenOptions>? listen = null)
        : this(host, port, listen, parent: null)
    {
    }

    private VirtualWebApplicationFactory(VirtualHost host, int port, Action<ListenOptions>? listen, Action<IWebHostBuilder>? parent)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1, nameof(port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535, nameof(port));
        Host = host;
        Port = port;
        _listen = listen;
        _parent = parent;
        UseKestrel();
        host.Track(this);
    }

    /// <summary>The virtual host the app runs on.</summary>
    public VirtualHost Host { get; }

    /// <summary>The port the app listens on, on each of the host's addresses.</summary>
    public int Port { get; }

    /// <summary>The app's address by name: <c>http://api/</c> (with the port when it is not 80).</summary>
    public Uri BaseAddress => new(Port == 80 ? $"http://{Host.Name}/" : $"http://{Host.Name}:{Port}/");

    /// <summary>
    /// The host <see cref="CreateClient()"/> sends from: <c>&lt;name&gt;-client</c> on the app's subnet, added at the
    /// first call (its <see cref="VirtualHost.Link"/> takes impairments like any other).
    /// </summary>
    public VirtualHost ClientHost
    {
        get
        {
            lock (_gate)
            {
                return _clientHost ??= Host.Network.AddHost($"{Host.Name}-client", Host.Subnet);
            }
        }
    }

    /// <summary>
    /// An <see cref="HttpClient"/> from <see cref="ClientHost"/> to the app (<see cref="BaseAddress"/>), following
    /// <see cref="WebApplicationFactory{TEntryPoint}.ClientOptions"/>. Starts the app on first use.
    /// </summary>
    public new HttpClient CreateClient() => CreateClient(ClientHost, ClientOptions);

    /// <summary>An <see cref="HttpClient"/> from <paramref name="from"/> to the app (<see cref="BaseAddress"/>). Starts the app on first use.</summary>
    public HttpClient CreateClient(VirtualHost from) => CreateClient(from, ClientOptions);

    /// <summary>
    /// An <see cref="HttpClient"/> from <paramref name="from"/> to the app: redirects and cookies as
    /// <paramref name="options"/> say, its base address unless it is WebApplicationFactory's default
    /// (<c>http://localhost</c>, or the app's endpoint by address), in which case <see cref="BaseAddress"/> (by name). The network disposes it.
    /// </summary>
    public HttpClient CreateClient(VirtualHost from, WebApplicationFactoryClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(options);
        if (from.Network != Host.Network)
        {
            throw new ArgumentException($"Host {from.Name} is on another network than the app's host {Host.Name}.", nameof(from));
        }
        StartServer();
        SocketsHttpHandler handler = from.CreateHandler();
        handler.AllowAutoRedirect = options.AllowAutoRedirect;
        handler.MaxAutomaticRedirections = options.MaxAutomaticRedirections;
        handler.UseCookies = options.HandleCookies;
        var client = new HttpClient(handler, disposeHandler: true) { BaseAddress = IsDefaultAddress(options.BaseAddress) ? BaseAddress : options.BaseAddress };
        return from.Track(client);
    }

    /// <summary>WebApplicationFactory's default (<c>http://localhost</c>), or the address of the app's endpoint it copies into <c>ClientOptions</c> once Kestrel started.</summary>
    private bool IsDefaultAddress(Uri? address) =>
        address is null || address == new WebApplicationFactoryClientOptions().BaseAddress
        || (address.Port == Port && IPAddress.TryParse(address.Host.Trim('[', ']'), out IPAddress? ip) && (ip.Equals(Host.Ipv4) || ip.Equals(Host.Ipv6)));

    /// <summary>
    /// A factory for the same app on the same host with more configuration (<c>ConfigureTestServices</c>, settings):
    /// it runs this factory's configuration, then <paramref name="configuration"/>. Use it instead of this one (both
    /// cannot listen on the same port at once).
    /// </summary>
    public new VirtualWebApplicationFactory<TEntryPoint> WithWebHostBuilder(Action<IWebHostBuilder> configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return new VirtualWebApplicationFactory<TEntryPoint>(Host, Port, _listen, builder =>
        {
            ConfigureWebHost(builder);
            configuration(builder);
        });
    }

    /// <summary>Maps the app's endpoints to the virtual host. An override must call this first.</summary>
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (_parent is not null)
        {
            _parent(builder);
            return;
        }
        builder.UseVirtualHost(Host, Port, _listen);
        builder.ConfigureServices(services => services.AddSingleton(new Marker(Host)));
    }

    /// <summary>
    /// Builds and starts the app's host, refusing it before it can start when the app would not serve from the virtual
    /// host (an override of <see cref="ConfigureWebHost"/> that skipped the base): it would bind the machine's sockets.
    /// </summary>
    protected override IHost CreateHost(IHostBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Runs inside the app's own Build, after every ConfigureWebHost callback and before its Run can start a server.
        builder.ConfigureServices(services =>
        {
            if (!services.Any(d => d.ServiceType == typeof(Marker) && d.ImplementationInstance is Marker m && m.Host == Host))
            {
                throw new InvalidOperationException(
                    $"The app would not listen on virtual host {Host.Name}: an override of ConfigureWebHost must call base.ConfigureWebHost(builder) first.");
            }
        });
        return base.CreateHost(builder);
    }

    /// <summary>Refuses the base class's clients, which would use the machine's sockets: use <see cref="CreateClient(VirtualHost)"/>.</summary>
    protected override void ConfigureClient(HttpClient client) =>
        throw new NotSupportedException($"The app listens on virtual host {Host.Name}, not on the machine: make clients with CreateClient() or CreateClient(fromHost).");

    /// <summary>Says, in the app's services, which virtual host the factory mapped it to.</summary>
    private sealed record Marker(VirtualHost Host);
}
