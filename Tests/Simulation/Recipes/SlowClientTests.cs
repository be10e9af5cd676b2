// Recipe: a client on a 1 Mbit/s link downloads from Kestrel; the rate limit shapes the transfer.
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using NetStack.Link.Simulation;
using NetStack.Simulation;
using NetStack.Simulation.AspNetCore;

namespace NetStack.Tests.Simulation.Recipes;

public class SlowClientTests
{
    [Fact(Timeout = 60_000)]
    public async Task Download_OneMegabitLink_TakesAsLongAsTheRateSays()
    {
        await using var net = new VirtualNetwork();
        VirtualHost api = net.AddHost("api"), phone = net.AddHost("phone");
        await api.StartWebApplicationAsync(web => web.MapGet("/file", () => Results.Bytes(new byte[128 * 1024])));
        phone.Link.Inbound = new ImpairmentOptions { RateBitsPerSecond = 1_000_000, QueueLimit = 100 };
        HttpClient http = phone.CreateHttpClient();
        var clock = Stopwatch.StartNew();
        Assert.Equal(128 * 1024, (await http.GetByteArrayAsync("http://api/file")).Length);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.0, 20); // 128 KiB at 1 Mbit/s: at least 1.05 s
    }
}
