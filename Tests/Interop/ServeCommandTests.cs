using System.Diagnostics;

namespace NetStack.Tests.Interop;

/// <summary>`netstack serve` as a process in a namespace: attaches to a persistent TUN or creates one, serves, and prints its counters on SIGTERM.</summary>
[Collection(KernelInteropCollection.Name)]
public partial class ServeCommandTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int SIGTERM = 15;

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private static string Command(string arguments)
    {
        string dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
        return $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll")} serve {arguments}";
    }

    private static async Task<string> WaitForReadyAsync(Process serve)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await serve.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.EndsWith("; ready", StringComparison.Ordinal))
            {
                return line;
            }
        }
        Assert.Fail("serve ended before it was ready: " + await serve.StandardError.ReadToEndAsync());
        return "";
    }

    private static async Task<string> StopAsync(Process serve)
    {
        Assert.Equal(0, Kill(serve.Id, SIGTERM));
        string rest = await serve.StandardOutput.ReadToEndAsync();
        Assert.True(serve.WaitForExit(TimeSpan.FromSeconds(30)), "serve did not stop on SIGTERM");
        Assert.Equal(0, serve.ExitCode);
        return rest;
    }

    [SkippableFact]
    public async Task PersistentTun_EchoAndIperf3_CountersOnSigterm()
    {
        InteropEnvironment.Require("nc.openbsd", "iperf3", "curl");
        using var ns = new NetNs();
        NetNs.Ip($"-n {ns.Name} tuntap add dev nsserve0 mode tun");
        NetNs.Ip($"-n {ns.Name} addr add 10.201.0.1/24 dev nsserve0");
        NetNs.Ip($"-n {ns.Name} addr add fd00:201::1/64 dev nsserve0 nodad");
        Process serve = ns.Start(Command("--tun nsserve0 --address 10.201.0.2/24 --address fd00:201::2/64 --mtu 9000"));
        string ready = await WaitForReadyAsync(serve);
        output.WriteLine(ready);
        Assert.Contains("Persist", ready, StringComparison.Ordinal); // attached to the existing device
        Assert.Contains("mtu 9000", NetNs.Ip($"-n {ns.Name} link show nsserve0"), StringComparison.Ordinal);

        var (exit, echoed, error) = ns.Shell("echo hello-serve | nc.openbsd -N 10.201.0.2 7", TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, error);
        Assert.Equal("hello-serve", echoed.Trim());
        (exit, _, error) = ns.Exec("iperf3 -c fd00:201::2 -t 1", TimeSpan.FromSeconds(30));
        Assert.True(exit == 0, error);
        Assert.Contains("http/80", ready, StringComparison.Ordinal);
        CurlResult curl = await Curl.RunAsync(ns, "http://10.201.0.2/bytes/3000000", TimeSpan.FromSeconds(30));
        Assert.True(curl.Exit == 0, curl.Error);
        Assert.Equal(Curl.PatternSha256(3_000_000), curl.Sha256);

        string counters = await StopAsync(serve);
        output.WriteLine(counters);
        Assert.Contains("netstack serve: stopping", counters, StringComparison.Ordinal);
        Assert.Contains("echo/7: connections 1 (failed 0), in 12 B, out 12 B", counters, StringComparison.Ordinal);
        Assert.Matches(@"iperf3/5201: connections [23] \(failed 0\)", counters);
        Assert.Contains("http/80: requests 1 (failed 0), in 0 B, out 3000000 B", counters, StringComparison.Ordinal);
        Assert.Contains("pool after shutdown: live buffers 0", counters, StringComparison.Ordinal);
        Assert.Contains("nsserve0", NetNs.Ip($"-n {ns.Name} link show nsserve0"), StringComparison.Ordinal); // persistent: still there
    }

    [SkippableFact]
    public async Task NoDevice_CreatesOne_GoneAfterExit()
    {
        InteropEnvironment.Require("nc.openbsd");
        using var ns = new NetNs();
        Process serve = ns.Start(Command("--tun nsnew0 --address 10.201.0.2/24 --offload off --iperf3-port 0 --http-port 0 --echo-port 7007"));
        string ready = await WaitForReadyAsync(serve);
        Assert.DoesNotContain("VnetHeader", ready, StringComparison.Ordinal);
        Assert.DoesNotContain("http/", ready, StringComparison.Ordinal);
        NetNs.Ip($"-n {ns.Name} addr add 10.201.0.1/24 dev nsnew0");
        var (exit, echoed, error) = ns.Shell("echo created | nc.openbsd -N 10.201.0.2 7007", TimeSpan.FromSeconds(20));
        Assert.True(exit == 0, error);
        Assert.Equal("created", echoed.Trim());
        await StopAsync(serve);
        Assert.NotEqual(0, InteropEnvironment.Run("ip", $"-n {ns.Name} link show nsnew0").Exit);
    }
}
