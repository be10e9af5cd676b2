using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using NetStack.AspNetCore;
using NetStack.Cli.Demo;
using NetStack.Http;
using NetStack.Tcp;

namespace NetStack.Tests.AspNetCore;

/// <summary>
/// Kestrel (NetStack transport) on the server stack 10.0.0.2:80 and HttpClient (NetStack ConnectCallback) on the
/// client stack 10.0.0.1, over the demo's live pipe link (GRO on). Every TCP connection the client opens is kept
/// in <see cref="ClientConnections"/>.
/// </summary>
internal sealed class HttpWorld : IAsyncDisposable
{
    private HttpWorld(DemoNetwork network, IHost host, SocketsHttpHandler handler, HttpClient client)
    {
        Network = network;
        Host = host;
        Handler = handler;
        Client = client;
    }

    public DemoNetwork Network { get; }

    public IHost Host { get; }

    public SocketsHttpHandler Handler { get; }

    public HttpClient Client { get; }

    public ConcurrentQueue<TcpConnection> ClientConnections { get; } = new();

    public static async Task<HttpWorld> StartAsync(RequestDelegate app, HttpProtocols protocols = HttpProtocols.Http1, Action<KestrelServerOptions>? kestrel = null, DemoNetworkOptions? network = null, Action<SocketsHttpHandler>? handler = null)
    {
        var net = new DemoNetwork(network ?? new DemoNetworkOptions());
        IHost host = new HostBuilder()
            .ConfigureWebHost(web => web
                .UseKestrel(k =>
                {
                    k.Listen(IPAddress.Any, 80, listen => listen.Protocols = protocols);
                    kestrel?.Invoke(k);
                })
                .UseNetStack(net.Server)
                .Configure(a => a.Run(app)))
            .Build();
        await host.StartAsync();
        SocketsHttpHandler h = NetStackHttp.CreateHandler(net.Client);
        handler?.Invoke(h);
        var client = new HttpClient(h)
        {
            BaseAddress = new Uri("http://10.0.0.2/"),
            Timeout = TimeSpan.FromSeconds(60),
            DefaultRequestVersion = protocols == HttpProtocols.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var world = new HttpWorld(net, host, h, client);
        var connect = h.ConnectCallback!;
        h.ConnectCallback = async (context, token) =>
        {
            Stream stream = await connect(context, token);
            world.ClientConnections.Enqueue((TcpConnection)stream);
            return stream;
        };
        return world;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await Host.StopAsync(timeout.Token);
        }
        finally
        {
            Host.Dispose();
            await Network.DisposeAsync();
        }
    }
}
