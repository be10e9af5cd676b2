// Kestrel and HttpClient on virtual hosts (real time): the app is reached by name at the host's addresses, the
// default endpoints mapped there rather than to the machine's localhost:5000.
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation;

public class KestrelTests
{
    [Fact(Timeout = 60_000)]
    public async Task StartWebApplicationAsync_HttpClientByName_GetsTheAnswer_OnTheHostsAddressesOnly()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), client = net.AddHost("client");
        WebApplication app = await api.StartWebApplicationAsync(web => web.MapGet("/", () => "hello"));
        Assert.Equal(["http://10.0.0.1:80", "http://[fd00::1]:80"], app.Urls.Order(StringComparer.Ordinal));
        HttpClient http = client.CreateHttpClient();
        Assert.Equal("hello", await http.GetStringAsync("http://api/"));
        Assert.Equal("hello", await http.GetStringAsync("http://[fd00::1]/"));
    }

    [Fact(Timeout = 60_000)]
    public async Task HttpClient_UnderLossAndDelay_StillGetsEveryBody_AndTheSummaryShowsRetransmissions()
    {
        await using var net = new VirtualNetwork(seed: 5);
        VirtualHost api = net.AddHost("api"), client = net.AddHost("client");
        await api.StartWebApplicationAsync(web => web.MapGet("/blob", () => Results.Bytes(new byte[256 * 1024])));
        client.Link.Set(new ImpairmentOptions { LossPercent = 3, Delay = TimeSpan.FromMilliseconds(2) });
        HttpClient http = client.CreateHttpClient();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(256 * 1024, (await http.GetByteArrayAsync("http://api/blob")).Length);
        }
        HostSummary summary = api.Summary();
        Assert.True(summary.FastRetransmits + summary.RetransmissionTimeouts > 0, summary.ToString());
        Assert.Contains("link-in.loss", client.Summary().Drops.Keys);
    }

    [Fact(Timeout = 60_000)]
    public async Task UseVirtualHost_AppsOwnBuilderWithLocalhostUrls_ListensOnTheHostOnly_AndAConnectCallbackClientReachesIt()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), caller = net.AddHost("caller");
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://localhost:5081"); // what the app configured for itself
        builder.WebHost.UseVirtualHost(api, port: 8080);
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "from the builder");
        await app.StartAsync();
        Assert.Equal(["http://10.0.0.1:8080", "http://[fd00::1]:8080"], app.Urls.Order(StringComparer.Ordinal));
        using var handler = new SocketsHttpHandler { ConnectCallback = caller.ConnectCallback }; // any client that takes a callback
        using var http = new HttpClient(handler);
        Assert.Equal("from the builder", await http.GetStringAsync("http://api:8080/"));
        using var machine = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () => await machine.ConnectAsync(System.Net.IPAddress.Loopback, 5081));
        await app.StopAsync();
    }
}
