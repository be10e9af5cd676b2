// Kestrel on a virtual host: UseVirtualHost maps the app's endpoints to the host's addresses (so Kestrel's default
// localhost:5000 never binds the machine's loopback), and StartWebApplicationAsync is a one-call test server.
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NetStack.AspNetCore;

namespace NetStack.Simulation.AspNetCore;

/// <summary>ASP.NET Core apps served from a <see cref="VirtualHost"/>.</summary>
public static class VirtualHostWebExtensions
{
    /// <summary>
    /// Serves the app from <paramref name="host"/>: Kestrel listens on the host's IPv4 and IPv6 addresses at
    /// <paramref name="port"/> (80 by default, so <c>http://name/</c> works) over the host's stack, and the URLs from
    /// configuration (<c>ASPNETCORE_URLS</c>, <c>UseUrls</c>, Kestrel's default <c>localhost:5000</c>) are replaced, not
    /// bound on the machine. <paramref name="listen"/> configures both endpoints (for gRPC without TLS:
    /// <c>l =&gt; l.Protocols = HttpProtocols.Http2</c>, since Kestrel serves only HTTP/1.1 on a cleartext endpoint
    /// that offers both).
    /// </summary>
    public static IWebHostBuilder UseVirtualHost(this IWebHostBuilder builder, VirtualHost host, int port = 80, Action<ListenOptions>? listen = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1, nameof(port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535, nameof(port));
        builder.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.UseSetting(WebHostDefaults.PreferHostingUrlsKey, "false");
        builder.UseNetStack(host.Stack);
        return builder.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(host.Ipv4, port, options => listen?.Invoke(options));
            kestrel.Listen(host.Ipv6, port, options => listen?.Invoke(options));
        });
    }

    /// <summary>
    /// Builds and starts a minimal ASP.NET Core app on <paramref name="host"/> (see <see cref="UseVirtualHost"/>):
    /// <paramref name="map"/> adds its endpoints, <paramref name="configure"/> its services, <paramref name="listen"/>
    /// its endpoints' options. The network stops and disposes it before the host's stack.
    /// </summary>
    public static async Task<WebApplication> StartWebApplicationAsync(this VirtualHost host, Action<WebApplication> map,
        Action<WebApplicationBuilder>? configure = null, int port = 80, Action<ListenOptions>? listen = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(map);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseVirtualHost(host, port, listen);
        configure?.Invoke(builder);
        WebApplication app = builder.Build();
        map(app);
        await app.StartAsync().ConfigureAwait(false);
        host.Track(new Stopper(app));
        return app;
    }

    /// <summary>Stops then disposes an app when the network goes.</summary>
    private sealed class Stopper(WebApplication app) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
