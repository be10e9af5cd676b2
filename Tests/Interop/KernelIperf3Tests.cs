using System.Net;
using System.Text.Json.Nodes;
using NetStack.Cli.Iperf3;

namespace NetStack.Tests.Interop;

/// <summary>
/// Our iperf3 implementation against Debian's iperf3 3.x in both roles, through a real TUN device: the kernel's
/// iperf3 client against our server (normal, -R, -P), and our client against the kernel's iperf3 -s -1.
/// </summary>
[Collection(KernelInteropCollection.Name)]
public class KernelIperf3Tests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static long Bytes(JsonNode? end, string sum) => end?[sum]?["bytes"]?.GetValue<long>() ?? -1;

    /// <summary>A test longer than serve's iperf3 maximum: the real client is told why at once and exits, the service free again.</summary>
    [SkippableFact]
    public async Task KernelClient_HourLongTest_RefusedWithTheReason_ServiceFreeAgain()
    {
        InteropEnvironment.Require("iperf3");
        await using var rig = InteropRig.Start();
        var (exit, json, error) = rig.Ns.Exec($"iperf3 -c {InteropRig.StackV4} -t 3600", TimeSpan.FromSeconds(30));
        Assert.NotEqual(0, exit);
        Assert.True(json.Contains("duration too long", StringComparison.Ordinal) || error.Contains("duration too long", StringComparison.Ordinal), $"exit {exit}: {json}{error}");
        Iperf3Server server = rig.Host.Services.OfType<Iperf3Server>().Single();
        Assert.Equal(1, server.TestsRefused);
        (exit, json, error) = rig.Ns.Exec($"iperf3 -c {InteropRig.StackV4} -t 1", TimeSpan.FromSeconds(30));
        Assert.True(exit == 0, $"iperf3 exit {exit}: {error}\n{json}");
    }

    [SkippableTheory]
    [InlineData(false, false, 1)]
    [InlineData(false, true, 1)]
    [InlineData(true, true, 2)]
    [InlineData(true, false, 4)]
    public async Task KernelClient_OurServer(bool v6, bool reverse, int parallel)
    {
        InteropEnvironment.Require("iperf3");
        await using var rig = InteropRig.Start();
        var (exit, json, error) = rig.Ns.Exec(
            $"iperf3 -c {InteropRig.Stack(v6)} -t 5 -J -P {parallel}{(reverse ? " -R" : "")}", TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"iperf3 exit {exit}: {error}\n{json}");
        JsonNode? end = JsonNode.Parse(json)?["end"];
        Iperf3Server server = rig.Host.Services.OfType<Iperf3Server>().Single();
        Iperf3TestSummary summary = Assert.IsType<Iperf3TestSummary>(server.LastTest);
        output.WriteLine($"kernel client{(reverse ? " -R" : "")} -P {parallel} v{(v6 ? 6 : 4)}: sent {Bytes(end, "sum_sent")} received {Bytes(end, "sum_received")}; "
            + $"ours {summary.Bytes} B in {summary.Seconds:F2} s = {summary.BitsPerSecond / 1e9:F2} Gbit/s");
        Assert.Equal(reverse, summary.Reverse);
        Assert.Equal(parallel, summary.Streams);
        Assert.True(summary.Bytes > 0);
        // The client reports our side's figures as the remote end, and its own as measured: both meet here.
        if (reverse)
        {
            Assert.Equal(summary.Bytes, Bytes(end, "sum_sent"));
            Assert.Equal(summary.ClientBytes, Bytes(end, "sum_received"));
            Assert.InRange(summary.ClientBytes, 1, summary.Bytes);
        }
        else
        {
            Assert.Equal(summary.Bytes, Bytes(end, "sum_received"));
            Assert.Equal(summary.ClientBytes, Bytes(end, "sum_sent"));
            Assert.InRange(summary.Bytes, 1, summary.ClientBytes);
        }
    }

    [SkippableTheory]
    [InlineData(false, false, 1)]
    [InlineData(false, true, 1)]
    [InlineData(true, false, 2)]
    public async Task OurClient_KernelServer(bool v6, bool reverse, int parallel)
    {
        InteropEnvironment.Require("iperf3", "ss");
        await using var rig = InteropRig.Start();
        IPAddress kernel = InteropRig.Kernel(v6);
        using var server = rig.Ns.Start($"iperf3 -s -1 -J -B {kernel}");
        Task<string> serverOutput = server.StandardOutput.ReadToEndAsync();
        await KernelTransferTests.WaitForListenerAsync(rig.Ns, 5201);
        Iperf3ClientResult result = await Iperf3Client.RunAsync(rig.Host.Tcp,
            new Iperf3ClientOptions(new IPEndPoint(kernel, 5201)) { Seconds = 3, Reverse = reverse, Parallel = parallel });
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)), "iperf3 -s -1 did not exit");
        Assert.Equal(0, server.ExitCode);
        JsonNode? end = JsonNode.Parse(await serverOutput)?["end"];
        output.WriteLine($"our client{(reverse ? " -R" : "")} -P {parallel} v{(v6 ? 6 : 4)}: ours {result.Bytes} B = {result.BitsPerSecond / 1e9:F2} Gbit/s, "
            + $"kernel server says sent {Bytes(end, "sum_sent")} received {Bytes(end, "sum_received")}");
        Assert.True(result.Bytes > 0);
        // The kernel server's own figure is what it told us in the results exchange.
        long kernelOwn = reverse ? Bytes(end, "sum_sent") : Bytes(end, "sum_received");
        Assert.Equal(kernelOwn, result.ServerBytes);
        if (reverse)
        {
            Assert.InRange(result.Bytes, 1, result.ServerBytes);
        }
        else
        {
            Assert.InRange(result.ServerBytes, 1, result.Bytes);
        }
    }
}
