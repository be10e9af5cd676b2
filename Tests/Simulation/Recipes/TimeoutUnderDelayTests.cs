// Recipe: a caller's timeout fires when the network adds 2 s of delay, and the caller sees it as a timeout.
using Microsoft.AspNetCore.Builder;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation.Recipes;

public class TimeoutUnderDelayTests
{
    [Fact(Timeout = 60_000)]
    public async Task GetString_TwoSecondsOfAddedDelay_TimesOutAfterOne()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), app = net.AddHost("app");
        await api.StartWebApplicationAsync(web => web.MapGet("/", () => "ok"));
        api.Link.Outbound = new ImpairmentOptions { Delay = TimeSpan.FromSeconds(2) };
        HttpClient http = app.CreateHttpClient(timeout: TimeSpan.FromSeconds(1));
        var e = await Assert.ThrowsAsync<TaskCanceledException>(() => http.GetStringAsync("http://api/"));
        Assert.IsType<TimeoutException>(e.InnerException);
    }
}
