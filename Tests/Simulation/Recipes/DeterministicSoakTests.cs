// Recipe: an hour of traffic over a lossy link in virtual time, finishing in wall seconds, the same every run.
using System.Security.Cryptography;
using NetStack.Link.Simulation;
using NetStack.Simulation;

namespace NetStack.Tests.Simulation.Recipes;

public class DeterministicSoakTests
{
    private static async Task<byte[]> SoakAsync(string capture)
    {
        await using var net = new VirtualNetwork(new VirtualNetworkOptions { Seed = 3, Time = NetworkTime.Virtual, CapturePath = capture });
        VirtualHost sensor = net.AddHost("sensor"), collector = net.AddHost("collector");
        sensor.Link.Set(new ImpairmentOptions { LossPercent = 1, Delay = TimeSpan.FromMilliseconds(50) });
        VirtualListener listener = collector.Listen(9000);
        await net.RunAsync(async () =>
        {
            Stream upstream = await sensor.ConnectAsync("collector", 9000);
            Stream inbox = await listener.AcceptAsync();
            byte[] reading = new byte[100];
            for (int minute = 0; minute < 60; minute++)
            {
                await upstream.WriteAsync(reading);
                await inbox.ReadExactlyAsync(reading);
                await net.Delay(TimeSpan.FromMinutes(1));
            }
        });
        Assert.True(net.Now >= TimeSpan.FromHours(1));
        return SHA256.HashData(File.ReadAllBytes(capture));
    }

    [Fact(Timeout = 60_000)]
    public async Task Soak_AnHourAtOnePercentLoss_SameSeed_SameCaptureEveryRun()
    {
        string path = Path.GetTempFileName();
        try
        {
            Assert.Equal(await SoakAsync(path), await SoakAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
