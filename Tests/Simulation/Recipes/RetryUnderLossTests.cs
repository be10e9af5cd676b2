// Recipe: an HttpClient caller keeps working when 5 % of its packets are lost.
using Microsoft.AspNetCore.Builder;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation.Recipes;

public class RetryUnderLossTests
{
    [Fact(Timeout = 60_000)]
    public async Task GetString_FivePercentLoss_StillSucceeds()
    {
        await using var net = new VirtualNetwork(seed: 1);
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        await api.StartWebApplicationAsync(web => web.MapGet("/", () => "ok"));
        app.Link.Set(new ImpairmentOptions { LossPercent = 5 });
        HttpClient http = app.CreateHttpClient();
        Assert.Equal("ok", await http.GetStringAsync("http://api/"));
    }
}
