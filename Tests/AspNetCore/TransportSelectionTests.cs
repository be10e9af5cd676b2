using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NetStack.AspNetCore;
using NetStack.Cli.Demo;
using NetStack.Http;

namespace NetStack.Tests.AspNetCore;

/// <summary>
/// UseNetStack() without a default stack plus ListenNetStack: the NetStackEndPoint is served over the stack, a plain
/// IP end point next to it stays on Kestrel's socket transport (the selector declines it), both from one app.
/// </summary>
public class TransportSelectionTests
{
    [Fact]
    public async Task ListenNetStack_Serves_On_The_Stack_And_Sockets_Keep_Plain_End_Points()
    {
        await using var network = new DemoNetwork(new DemoNetworkOptions());
        using IHost host = new HostBuilder()
            .ConfigureWebHost(web => web
                .UseKestrel(k =>
                {
                    k.ListenNetStack(network.Server, new IPEndPoint(IPAddress.Any, 8081));
                    k.Listen(IPAddress.Loopback, 0); // the host's loopback, through sockets
                })
                .UseNetStack()
                .Configure(app => app.Run(c => c.Response.WriteAsync($"{c.Connection.LocalIpAddress}:{c.Connection.LocalPort}"))))
            .Build();
        await host.StartAsync();
        try
        {
            string[] addresses = [.. host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses];
            Assert.Equal(2, addresses.Length);
            string loopback = Assert.Single(addresses, a => a.Contains("127.0.0.1", StringComparison.Ordinal));

            using var overStack = new HttpClient(NetStackHttp.CreateHandler(network.Client));
            Assert.Equal("10.0.0.2:8081", await overStack.GetStringAsync("http://10.0.0.2:8081/"));

            using var overSockets = new HttpClient();
            var uri = new Uri(loopback);
            Assert.Equal($"127.0.0.1:{uri.Port}", await overSockets.GetStringAsync(uri));
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
