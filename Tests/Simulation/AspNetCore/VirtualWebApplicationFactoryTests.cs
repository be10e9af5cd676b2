// An existing ASP.NET Core app (Tests/SampleApi: its own Program with top-level statements, unchanged) started on a
// virtual host by VirtualWebApplicationFactory: served by name on the host's addresses only, its configuration and
// environment its own, reached through impairments, configurable like WebApplicationFactory, and torn down cleanly.
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;
using NetStack.Tests.SampleApi;

namespace NetStack.Tests.Simulation.AspNetCore;

public class VirtualWebApplicationFactoryTests
{
    [Fact(Timeout = 60_000)]
    public async Task CreateClient_ExistingProgram_ServesItsOwnConfigurationByName_OnTheHostsAddressesOnly()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), caller = net.AddHost("caller");
        var factory = new VirtualWebApplicationFactory<Program>(api);
        HttpClient http = factory.CreateClient(caller);
        Assert.Equal(new Uri("http://api/"), http.BaseAddress);
        Assert.Equal("hello from appsettings.json", await http.GetStringAsync("/")); // the app's content root and appsettings.json
        Assert.Equal("Development", await http.GetStringAsync("/environment"));
        Assert.Equal(new Item(2, "buoy"), await http.GetFromJsonAsync<Item>("/items/2"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/items/9")).StatusCode);
        Assert.Equal("hello from appsettings.json", await http.GetStringAsync("http://[fd00::1]/"));
        IServerAddressesFeature addresses = factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!;
        Assert.Equal(["http://10.0.0.1:80", "http://[fd00::1]:80"], addresses.Addresses.Order(StringComparer.Ordinal));
        using var machine = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await machine.ConnectAsync(IPAddress.Loopback, 5080)); // the app's "Urls" setting
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact(Timeout = 60_000)]
    public async Task CreateClient_ThroughLossAndDelay_EveryRequestAnswers_AndTeardownLeavesNothing()
    {
        var net = new VirtualNetwork(seed: 9);
        VirtualHost api = net.AddHost("api"), caller = net.AddHost("caller");
        var factory = new VirtualWebApplicationFactory<Program>(api);
        caller.Link.Set(new ImpairmentOptions { LossPercent = 5, Delay = TimeSpan.FromMilliseconds(3) });
        HttpClient http = factory.CreateClient(caller);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(64 * 1024, (await http.GetByteArrayAsync("/bytes/65536")).Length);
        }
        Assert.True(caller.Link.InboundStage!.DroppedLoss + caller.Link.OutboundStage!.DroppedLoss > 0, net.Summary());
        Assert.Null(await net.DisposeAndCheckLeaksAsync()); // the app stopped, its connections closed, every buffer back
    }

    [Fact(Timeout = 60_000)]
    public async Task CreateClient_WithoutAHost_SendsFromAClientHostOfItsOwn()
    {
        await using var net = new VirtualNetwork();
        var factory = new VirtualWebApplicationFactory<Program>(net.AddHost("api"), port: 8080);
        HttpClient http = factory.CreateClient();
        Assert.Equal(new Uri("http://api:8080/"), http.BaseAddress);
        Assert.Equal("hello from appsettings.json", await http.GetStringAsync("/"));
        Assert.Same(net["api-client"], factory.ClientHost);
        Assert.True(factory.ClientHost.Stack.Tcp.ConnectionCount > 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task WithWebHostBuilder_MoreConfiguration_AppliesOnTheSameVirtualHost()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), caller = net.AddHost("caller");
        VirtualWebApplicationFactory<Program> factory = new VirtualWebApplicationFactory<Program>(api)
            .WithWebHostBuilder(web => web.ConfigureAppConfiguration(c => c.AddInMemoryCollection([new("Greeting", "hello from the test")])));
        Assert.Equal("hello from the test", await factory.CreateClient(caller).GetStringAsync("/"));
    }

    [Fact(Timeout = 60_000)]
    public async Task StartServer_OverrideThatSkipsTheBase_FailsNamingTheFix_AndBindsNothing()
    {
        await using var net = new VirtualNetwork();
        var factory = new ForgetfulFactory(net.AddHost("api"));
        var e = Assert.Throws<InvalidOperationException>(factory.StartServer);
        Assert.Contains("base.ConfigureWebHost", e.Message, StringComparison.Ordinal);
        using var machine = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await machine.ConnectAsync(IPAddress.Loopback, 5080)); // refused before the app could run
    }

    [Fact(Timeout = 60_000)]
    public async Task CreateDefaultClient_OfTheBaseClass_IsRefused_ForItWouldUseTheMachinesSockets()
    {
        await using var net = new VirtualNetwork();
        var factory = new VirtualWebApplicationFactory<Program>(net.AddHost("api"));
        Assert.Throws<NotSupportedException>(() => factory.CreateDefaultClient());
    }

    /// <summary>A factory whose override forgets to call the base (a mistake the factory must catch).</summary>
    private sealed class ForgetfulFactory(VirtualHost host) : VirtualWebApplicationFactory<Program>(host)
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
        }
    }
}
