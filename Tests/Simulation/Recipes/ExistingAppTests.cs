// Recipe: an existing ASP.NET Core app, its own Program unchanged, on a virtual host, called by name through 5 % loss.
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation.Recipes;

public class ExistingAppTests
{
    [Fact(Timeout = 60_000)]
    public async Task ExistingApp_OnAVirtualHost_AnswersByNameThroughLoss()
    {
        await using var net = new VirtualNetwork(seed: 2);
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        var factory = new VirtualWebApplicationFactory<Program>(api); // Program: the app's entry point; the network disposes it
        app.Link.Set(new ImpairmentOptions { LossPercent = 5 });
        HttpClient http = factory.CreateClient(app); // http://api/, leaving from host "app"
        Assert.Equal("hello from appsettings.json", await http.GetStringAsync("/"));
    }
}
