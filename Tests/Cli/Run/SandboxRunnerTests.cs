// `netstack run` end to end, as an ordinary user (UnprivilegedUser): the kernel's curl inside the sandbox, through the
// forwarder and --allow-host-loopback, against an HTTP service on the host's loopback, 1 GiB each way with SHA-256
// checked at both ends, the loopback refused without the option, a UDP round trip, a -t port forward into the
// sandbox, impairments, exit statuses and signals, --attach, errors, and that nothing is left behind.
using System.Diagnostics;
using NetStack.Cli.Run;
using NetStack.Cli.Serve;
using NetStack.Tests.Interop;
using Xunit.Abstractions;

namespace NetStack.Tests.Cli.Run;

[Collection(KernelInteropCollection.Name)]
public sealed partial class SandboxRunnerTests(ITestOutputHelper output)
{
    private const long GiB = 1L << 30;
    private static readonly TimeSpan s_limit = TimeSpan.FromMinutes(5);

    /// <summary>The HTTP service on the host's loopback (IPv4 and IPv6), started once for the class.</summary>
    private static readonly Lazy<(HttpService V4, HttpService V6)> s_host = new(() =>
    {
        var v4 = new HttpService();
        var v6 = new HttpService();
        Task.Run(async () =>
        {
            await v4.StartOnHostAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            await v6.StartOnHostAsync(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 0));
        }).GetAwaiter().GetResult();
        return (v4, v6);
    });

    /// <summary>The host service's URL for <paramref name="path"/> as the sandbox reaches it: the gateway, which --allow-host-loopback maps to 127.0.0.1.</summary>
    private static string Url(string path) => $"http://10.0.2.2:{s_host.Value.V4.Port}{path}";

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Runs `netstack run ARGS` as the user, its stdout hashed as it streams and its stdin fed <paramref name="feed"/> bytes of the pattern.</summary>
    private static Task<(int Exit, byte[] Sha256, long Length, string Text, string Error)> RunHashedAsync(IEnumerable<string> arguments, long feed = -1) =>
        HashedAsync(new[] { UnprivilegedUser.Netstack, "run" }.Concat(arguments), feed);

    /// <summary>Runs <paramref name="command"/> as the user, its stdout hashed as it streams and its stdin fed <paramref name="feed"/> bytes of the pattern.</summary>
    private static async Task<(int Exit, byte[] Sha256, long Length, string Text, string Error)> HashedAsync(IEnumerable<string> command, long feed = -1)
    {
        using Process run = UnprivilegedUser.Start(command, redirectInput: feed >= 0);
        using var cts = new CancellationTokenSource(s_limit);
        Task<string> error = run.StandardError.ReadToEndAsync(cts.Token);
        Task<(byte[] Sha256, long Length, string Text)> hashed = Curl.HashAsync(run.StandardOutput.BaseStream, cts.Token);
        Task input = feed >= 0 ? Curl.FeedAsync(run.StandardInput.BaseStream, feed, cts.Token) : Task.CompletedTask;
        try
        {
            await Task.WhenAll(hashed, input);
            await run.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            run.Kill(entireProcessTree: true);
            return (-1, [], -1, "", $"timed out after {s_limit}");
        }
        (byte[] sha, long length, string text) = await hashed;
        return (run.ExitCode, sha, length, text, await error);
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    [SkippableFact]
    public async Task Curl_Download1GiB_Sha256OfThePattern()
    {
        UnprivilegedUser.Require("curl");
        var result = await RunHashedAsync(["--allow-host-loopback", "--", "curl", "-sS", "--fail", "--max-time", "300", Url($"/bytes/{GiB}")]);
        Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Error}");
        Assert.Equal(GiB, result.Length);
        Assert.Equal(Hex(Curl.PatternSha256(GiB)), Hex(result.Sha256));
    }

    [SkippableFact]
    public async Task Curl_Upload1GiB_ServiceHashedWhatWasFed()
    {
        UnprivilegedUser.Require("curl");
        var result = await RunHashedAsync(
            ["--allow-host-loopback", "--stats", "--", "curl", "-sS", "--fail", "--max-time", "300", "-X", "POST", "-T", "-", "-H", "Transfer-Encoding:", "-H", $"Content-Length: {GiB}", Url("/sha256")],
            feed: GiB);
        output.WriteLine(result.Error);
        Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Error}");
        string expected = Hex(Curl.PatternSha256(GiB)); // what the test fed curl
        Assert.Equal(expected + "\n", result.Text); // what the service hashed, as curl received it
        Assert.Equal($"{GiB} {expected}", s_host.Value.V4.LastUpload); // what the host service hashed
        var up = System.Text.RegularExpressions.Regex.Match(result.Error, @"proxy: (\d+) bytes up"); // --stats
        Assert.True(up.Success && long.Parse(up.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= GiB, result.Error);
    }

    [SkippableFact]
    public async Task HostLoopback_WithoutTheOption_Refused()
    {
        UnprivilegedUser.Require("curl");
        var result = await RunHashedAsync(["--stats", "--", "curl", "-sS", "--fail", "--max-time", "20", Url("/bytes/1")]);
        Assert.NotEqual(0, result.Exit); // curl could not connect
        Assert.Matches(@"proxy refusals: [^\n]*HostLoopback=[1-9]", result.Error);
    }

    [SkippableFact]
    public async Task Curl_Ipv6Gateway_Download()
    {
        UnprivilegedUser.Require("curl");
        const long length = 50_000_000;
        var result = await RunHashedAsync(["--allow-host-loopback", "--", "curl", "-sS", "--fail", "-g", "--max-time", "120", $"http://[fd00::2]:{s_host.Value.V6.Port}/bytes/{length}"]);
        Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Error}");
        Assert.Equal(Hex(Curl.PatternSha256(length)), Hex(result.Sha256));
    }

    [SkippableFact]
    public async Task Loss5PercentSeed1_Download1GiB_Intact()
    {
        UnprivilegedUser.Require("curl");
        var result = await RunHashedAsync(["--allow-host-loopback", "--loss", "5%", "--seed", "1", "--stats", "--", "curl", "-sS", "--fail", "--max-time", "300", Url($"/bytes/{GiB}")]);
        output.WriteLine(result.Error);
        Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Error}");
        Assert.Equal(GiB, result.Length);
        Assert.Equal(Hex(Curl.PatternSha256(GiB)), Hex(result.Sha256));
        Assert.Matches(@"tcp: events \[[^\]]*FastRetransmits=[1-9]", result.Error); // the losses were real and repaired (--stats)
    }

    [SkippableFact]
    public async Task TwoRuns_SideBySide_BothMoveTheirData()
    {
        UnprivilegedUser.Require("curl");
        const long length = 256L << 20;
        string[] arguments = ["--allow-host-loopback", "--", "curl", "-sS", "--fail", "--max-time", "300", Url($"/bytes/{length}")];
        var results = await Task.WhenAll(RunHashedAsync(arguments), RunHashedAsync(arguments));
        foreach (var result in results)
        {
            Assert.True(result.Exit == 0, $"exit {result.Exit}: {result.Error}");
            Assert.Equal(Hex(Curl.PatternSha256(length)), Hex(result.Sha256));
        }
    }

    [SkippableFact]
    public void ExitStatus_IsTheCommands_128PlusSignalWhenKilled()
    {
        UnprivilegedUser.Require();
        Assert.Equal(42, UnprivilegedUser.NetstackRun(["--", "sh", "-c", "exit 42"]).Exit);
        Assert.Equal(0, UnprivilegedUser.NetstackRun(["true"]).Exit);
        Assert.Equal(128 + 9, UnprivilegedUser.NetstackRun(["--", "sh", "-c", "kill -KILL $$"]).Exit);
    }

    [SkippableTheory]
    [InlineData(2, "INT")]
    [InlineData(15, "TERM")]
    [InlineData(1, "HUP")]
    public async Task Signal_SentToNetstack_ReachesTheCommand(int signal, string name)
    {
        UnprivilegedUser.Require();
        // setpriv execs netstack in place: the process started is netstack run.
        using Process run = UnprivilegedUser.Start([UnprivilegedUser.Netstack, "run", "--", "sh", "-c", $"trap 'echo got-{name}; exit 7' {name}; echo ready; while :; do sleep 0.05; done"]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.Equal("ready", await run.StandardOutput.ReadLineAsync(cts.Token));
        Assert.Equal(0, Kill(run.Id, signal));
        Assert.Equal($"got-{name}", await run.StandardOutput.ReadLineAsync(cts.Token));
        await run.WaitForExitAsync(cts.Token);
        Assert.Equal(7, run.ExitCode);
    }

    [SkippableFact]
    public void CommandNotFound_Exits127_LikeAShell()
    {
        UnprivilegedUser.Require();
        var (exit, _, error) = UnprivilegedUser.NetstackRun(["--", "no-such-command-netstack"]);
        Assert.Equal(127, exit);
        Assert.Contains("no-such-command-netstack: command not found", error, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Teardown_LeavesNoProcessFdOrDevice()
    {
        UnprivilegedUser.Require("ip");
        string links = NetNs.Ip("-o link show");
        Cycle(); // warm-up: the test process opens some descriptors lazily (pipes, its socket engine)
        string[] fds = Fds();
        Cycle();
        Assert.Equal(fds, Fds());
        Assert.Equal(links, NetNs.Ip("-o link show")); // nothing appeared in the host's namespace

        // The test process's descriptors (those of finished processes' pipes released first; the listing's own left out).
        static string[] Fds()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return [.. new DirectoryInfo("/proc/self/fd").GetFileSystemInfos().Where(f => f.LinkTarget is { Length: > 0 } t && !t.StartsWith("/proc/", StringComparison.Ordinal))
                .Select(f => $"{f.Name} {f.LinkTarget}").Order()];
        }

        static void Cycle()
        {
            var (exit, listed, error) = UnprivilegedUser.NetstackRun(["--", "ls", "/proc/self/fd"]);
            Assert.True(exit == 0, error);
            // CMD inherits exactly what a command started without netstack run does (stdio and whatever the test host
            // passes down): no socket, TUN or netlink descriptor of the run.
            Assert.Equal(UnprivilegedUser.Run(["ls", "/proc/self/fd"]).Output, listed);
            Assert.Empty(UnprivilegedUser.Processes()); // no init, no CMD, no netstack: the namespaces and the TUN died with them
        }
    }

    [SkippableFact]
    public async Task Attach_AnotherProcessesNamespace_CurlThroughIt()
    {
        UnprivilegedUser.Require("curl");
        // A network namespace the user made (unshare execs sleep in place: the pid is sleep's).
        using Process target = UnprivilegedUser.Start(["unshare", "-Urn", "sleep", "120"]);
        // Attach once the namespaces exist (a process is networked as it is when netstack run looks at it).
        var wait = Stopwatch.StartNew();
        while (File.ResolveLinkTarget($"/proc/{target.Id}/ns/net", false)?.ToString() == File.ResolveLinkTarget("/proc/self/ns/net", false)?.ToString()
            && wait.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(20);
        }
        using Process run = UnprivilegedUser.Start([UnprivilegedUser.Netstack, "run", "--allow-host-loopback", "--stats", "--attach", target.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        try
        {
            const long length = 20_000_000;
            string[] inside = ["nsenter", $"--target={target.Id}", "--user", "--net", "--preserve-credentials", "--"];
            (int Exit, string Output, string Error) probe = default;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                probe = UnprivilegedUser.Run([.. inside, "curl", "-sS", "--fail", "-m", "10", "-o", "/dev/null", Url("/bytes/1")]);
                if (probe.Exit == 0 || run.HasExited)
                {
                    break;
                }
                await Task.Delay(100);
            }
            if (run.HasExited)
            {
                Assert.Fail($"netstack run --attach ended (exit {run.ExitCode}): {await run.StandardError.ReadToEndAsync()}");
            }
            Assert.True(probe.Exit == 0, probe.Error);
            var curl = await HashedAsync([.. inside, "curl", "-sS", "--fail", Url($"/bytes/{length}")]);
            Assert.True(curl.Exit == 0, curl.Error);
            Assert.Equal(Hex(Curl.PatternSha256(length)), Hex(curl.Sha256));
            var (_, route, _) = UnprivilegedUser.Run([.. inside, "cat", "/proc/net/route"]);
            Assert.Contains("tun0", route, StringComparison.Ordinal);

            target.Kill(); // the namespace's process ends: the run ends too, cleanly
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await run.WaitForExitAsync(cts.Token);
            Assert.Equal(0, run.ExitCode);
        }
        finally
        {
            foreach (Process process in new[] { run, target })
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
        }
    }

    [SkippableFact]
    public void UidMap_SubordinateRanges_MappedThroughNewuidmap()
    {
        UnprivilegedUser.Require("newuidmap", "newgidmap");
        Skip.IfNot(File.ReadAllText("/etc/subuid").Contains(UnprivilegedUser.Name + ":", StringComparison.Ordinal), $"{UnprivilegedUser.Name} has no range in /etc/subuid (.ci/run adds one)");
        var (exit, maps, error) = UnprivilegedUser.NetstackRun(["--uid-map", "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map"]);
        Assert.True(exit == 0, error);
        string[] lines = [.. maps.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))];
        Assert.Equal(4, lines.Length); // uid: caller → 0 and the range from 1; gid: the same
        Assert.StartsWith("0 ", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^1 \d+ \d+$", lines[1]);
        Assert.StartsWith("0 ", lines[2], StringComparison.Ordinal);
        Assert.Matches(@"^1 \d+ \d+$", lines[3]);
    }

    [SkippableFact]
    public async Task NetstackKilled_CommandDiesWithIt()
    {
        UnprivilegedUser.Require();
        using Process run = UnprivilegedUser.Start([UnprivilegedUser.Netstack, "run", "--", "sh", "-c", "echo ready; exec sleep 60"]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.Equal("ready", await run.StandardOutput.ReadLineAsync(cts.Token));
        // CMD is a child of netstack's main thread (PR_SET_PDEATHSIG follows the thread that forked).
        int command = int.Parse(File.ReadAllText($"/proc/{run.Id}/task/{run.Id}/children").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var exec = Stopwatch.StartNew(); // "ready" comes just before the exec: wait for it
        while (File.ReadAllText($"/proc/{command}/comm").Trim() != "sleep" && exec.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }
        Assert.Equal("sleep", File.ReadAllText($"/proc/{command}/comm").Trim());
        Assert.Equal(0, Kill(run.Id, 9));
        await run.WaitForExitAsync(cts.Token);
        var clock = Stopwatch.StartNew();
        while (Running(command) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }
        Assert.False(Running(command), "CMD outlived netstack run");

        static bool Running(int pid)
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z"; // a zombie has ended
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    [SkippableFact]
    public void DevNetTun_NotAccessible_ErrorNamesTheFix()
    {
        UnprivilegedUser.Require();
        var (access, _, _) = UnprivilegedUser.Run(["test", "-r", "/dev/net/tun", "-a", "-w", "/dev/net/tun"], user: "nobody");
        Skip.If(access == 0, "/dev/net/tun is open to every user here");
        var (exit, _, error) = UnprivilegedUser.Run([UnprivilegedUser.Netstack, "run", "true"], user: "nobody");
        Assert.Equal(RunCommand.FailureStatus, exit);
        Assert.Contains("you need read and write access to /dev/net/tun", error, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Udp_RoundTripToAHostEchoService_ReplyComesBack()
    {
        UnprivilegedUser.Require("nc");
        using var echo = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task echoing = Task.Run(async () =>
        {
            var received = await echo.ReceiveAsync(cts.Token);
            await echo.SendAsync(received.Buffer, received.RemoteEndPoint, cts.Token); // from 127.0.0.1: the NAT maps it back to the gateway
        }, cts.Token);
        int port = ((System.Net.IPEndPoint)echo.Client.LocalEndPoint!).Port;
        var (exit, text, error) = UnprivilegedUser.NetstackRun(["--allow-host-loopback", "--stats", "--", "sh", "-c", $"printf udp-ping | nc -u -w 3 10.0.2.2 {port}"]);
        Assert.True(exit == 0, $"exit {exit}: {error}");
        Assert.Equal("udp-ping", text);
        await echoing;
        Assert.Matches(@"proxy events: [^\n]*UdpFlowCreated=1", error); // through the forwarder's UDP NAT (--stats)
    }

    [SkippableFact]
    public async Task PortForward_HostClientConnects_ReachesTheServerInTheSandbox()
    {
        UnprivilegedUser.Require("nc");
        int hostPort;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            hostPort = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }
        // The server in the sandbox answers one connection and exits: so does netstack run.
        using Process run = UnprivilegedUser.Start([UnprivilegedUser.Netstack, "run", "-t", $"127.0.0.1:{hostPort}:8080", "--", "sh", "-c", "printf from-sandbox | nc -l -N 8080"]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<string> error = run.StandardError.ReadToEndAsync(cts.Token);
        string reply = "";
        while (reply.Length == 0 && !run.HasExited)
        {
            using var client = new System.Net.Sockets.TcpClient();
            try
            {
                await client.ConnectAsync(System.Net.IPAddress.Loopback, hostPort, cts.Token);
                reply = await new StreamReader(client.GetStream()).ReadToEndAsync(cts.Token); // empty: reset before nc listened
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
            catch (IOException)
            {
            }
            if (reply.Length == 0)
            {
                await Task.Delay(50, cts.Token);
            }
        }
        await run.WaitForExitAsync(cts.Token);
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {await error}");
        Assert.Equal("from-sandbox", reply);
    }
}
