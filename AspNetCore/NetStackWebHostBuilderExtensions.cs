// Layer: ASP.NET Core integration. How an app picks the transport: UseNetStack on the web host builder, and
// ListenNetStack on Kestrel's options for an end point on a given stack next to socket end points.
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using NetStack.Network;

namespace NetStack.AspNetCore;

/// <summary>Registers the NetStack transport for Kestrel.</summary>
public static class NetStackWebHostBuilderExtensions
{
    /// <summary>
    /// Serves Kestrel's IP end points (<c>Listen(IPAddress, port)</c>, <c>UseUrls("http://10.0.0.2:80")</c>) over
    /// <paramref name="stack"/> instead of the host's sockets. Registered after Kestrel's socket transport, it takes
    /// precedence for the end points it can bind.
    /// </summary>
    public static IWebHostBuilder UseNetStack(this IWebHostBuilder builder, NetworkStack stack, Action<NetStackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(stack);
        return builder.ConfigureServices(services => services.AddNetStackTransport(options =>
        {
            options.Stack = stack;
            configure?.Invoke(options);
        }));
    }

    /// <summary>
    /// Registers the transport for <see cref="NetStackEndPoint"/>s only (see <see cref="ListenNetStack"/>); other
    /// end points stay on the host's sockets.
    /// </summary>
    public static IWebHostBuilder UseNetStack(this IWebHostBuilder builder, Action<NetStackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices(services => services.AddNetStackTransport(configure));
    }

    /// <summary>Adds <see cref="NetStackTransportFactory"/> as an <see cref="IConnectionListenerFactory"/>.</summary>
    public static IServiceCollection AddNetStackTransport(this IServiceCollection services, Action<NetStackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null)
        {
            services.Configure(configure);
        }
        services.AddSingleton<IConnectionListenerFactory, NetStackTransportFactory>();
        return services;
    }

    /// <summary>Listens on <paramref name="endPoint"/> of <paramref name="stack"/> (needs <see cref="UseNetStack(IWebHostBuilder, Action{NetStackTransportOptions}?)"/>).</summary>
    public static void ListenNetStack(this KestrelServerOptions options, NetworkStack stack, IPEndPoint endPoint, Action<ListenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Listen(new NetStackEndPoint(stack, endPoint), configure ?? (_ => { }));
    }
}
