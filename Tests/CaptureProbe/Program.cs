// Writes a harness capture of one TCP exchange to args[0], then says whether libpcap was mapped into this process
// or could be loaded at all; exit 0 only when the capture exists and libpcap was neither (see PcapNgWriterTests).
using System.Runtime.InteropServices;
using NetStack.Simulation;

namespace NetStack.Tests.CaptureProbe;

internal static class Probe
{
    public static async Task<int> Main(string[] args)
    {
        string path = args[0];
        await using (var net = new VirtualNetwork(new VirtualNetworkOptions { Seed = 1, Time = NetworkTime.Virtual, CapturePath = path }))
        {
            VirtualHost client = net.AddHost("client"), server = net.AddHost("server");
            await net.RunAsync(async () =>
            {
                VirtualListener listener = server.Listen(80);
                Stream c = await client.ConnectAsync("server", 80);
                Stream s = await listener.AcceptAsync();
                await c.WriteAsync("hello"u8.ToArray());
                byte[] got = new byte[5];
                await s.ReadExactlyAsync(got);
                await c.DisposeAsync();
                await s.DisposeAsync();
                await net.Delay(TimeSpan.FromSeconds(1));
            });
        }

        bool mapped = File.ReadAllText("/proc/self/maps").Contains("libpcap", StringComparison.Ordinal);
        bool loadable = NativeLibrary.TryLoad("libpcap.so.0.8", out IntPtr handle) || NativeLibrary.TryLoad("libpcap.so", out handle);
        long size = File.Exists(path) ? new FileInfo(path).Length : -1;
        Console.WriteLine($"capture-bytes={size} libpcap-mapped={mapped} libpcap-loadable={loadable}");
        return size > 0 && !mapped && !loadable ? 0 : 3;
    }
}
