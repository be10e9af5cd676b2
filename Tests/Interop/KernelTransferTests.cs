using System.Net;
using System.Security.Cryptography;
using NetStack.Cli.Serve;
using NetStack.Link.Simulation;
using NetStack.Tcp;

namespace NetStack.Tests.Interop;

/// <summary>
/// Byte-exact transfers between the kernel's TCP (nc in the namespace) and ours through a real TUN device:
/// the kernel as client of our echo and chargen, and as server for our client, IPv4 and IPv6, MTU 1280 to
/// 65520, offloads on and off, and with netem loss and reordering on the kernel's side.
/// </summary>
[Collection(KernelInteropCollection.Name)]
public class KernelTransferTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    public static TheoryData<bool, int, bool> EchoMatrix()
    {
        var data = new TheoryData<bool, int, bool>();
        foreach (bool v6 in new[] { false, true })
        {
            foreach (int mtu in new[] { 1280, 1500, 9000, 65520 })
            {
                foreach (bool offload in new[] { true, false })
                {
                    data.Add(v6, mtu, offload);
                }
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(EchoMatrix))]
    public async Task KernelNc_ThroughOurEcho_ByteExact(bool v6, int mtu, bool offload)
    {
        InteropEnvironment.Require("nc.openbsd");
        await using var rig = InteropRig.Start(mtu, offload);
        var (path, sha) = rig.MakeFile(16 << 20);
        string echoed = rig.ScratchPath("echoed");
        var (exit, _, error) = rig.Ns.Shell($"nc.openbsd -N {InteropRig.Stack(v6)} {EchoService.DefaultPort} < {path} > {echoed}", Limit);
        Assert.True(exit == 0, $"nc exit {exit}: {error}\n{rig.Host.DescribeCounters()}");
        Assert.Equal(16 << 20, new FileInfo(echoed).Length);
        Assert.Equal(sha, InteropRig.Sha256OfFile(echoed));
    }

    [SkippableTheory]
    [InlineData(false, true, 1L << 30)]
    [InlineData(false, false, 256L << 20)]
    [InlineData(true, true, 256L << 20)]
    public async Task KernelNc_DownloadsFromOurChargen_MatchesThePattern(bool v6, bool offload, long length)
    {
        InteropEnvironment.Require("nc.openbsd", "head", "sha256sum");
        await using var rig = InteropRig.Start(1500, offload);
        var (exit, output, error) = rig.Ns.Shell($"nc.openbsd -d {InteropRig.Stack(v6)} {ChargenService.DefaultPort} | head -c {length} | sha256sum", Limit);
        Assert.True(exit == 0, $"exit {exit}: {error}");
        Assert.Equal(Convert.ToHexStringLower(ChargenSha256(length)), output.Split(' ')[0]);
    }

    [SkippableTheory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task Netem_LossAndReordering_EchoByteExact(bool v6, bool offload)
    {
        InteropEnvironment.Require("nc.openbsd", "tc");
        var fallback = new ImpairmentOptions { LossPercent = 1, ReorderPercent = 10, ReorderExtraDelay = TimeSpan.FromMilliseconds(1) };
        await using var rig = InteropRig.Start(1500, offload, netem: "delay 1ms reorder 10% 50% loss 1%", fallback: fallback);
        output.WriteLine("impairment: " + rig.Impairment);
        var (path, sha) = rig.MakeFile(4 << 20, seed: 3);
        string echoed = rig.ScratchPath("echoed");
        var (exit, _, error) = rig.Ns.Shell($"nc.openbsd -N {InteropRig.Stack(v6)} {EchoService.DefaultPort} < {path} > {echoed}", Limit);
        Assert.True(exit == 0, $"nc exit {exit}: {error}\n{rig.Host.DescribeCounters()}");
        Assert.Equal(sha, InteropRig.Sha256OfFile(echoed));
        output.WriteLine(rig.Host.DescribeCounters());
    }

    [SkippableTheory]
    [InlineData(false, true, 1L << 30)]
    [InlineData(true, false, 64L << 20)]
    public async Task OurClient_UploadsToKernelListener_ByteExact(bool v6, bool offload, long length)
    {
        InteropEnvironment.Require("nc.openbsd", "ss");
        await using var rig = InteropRig.Start(1500, offload);
        var (path, sha) = rig.MakeFile(length, seed: 5);
        string received = rig.ScratchPath("received");
        using var listener = rig.Ns.Start($"sh -c \"nc.openbsd -l {InteropRig.Kernel(v6)} 6000 < /dev/null > {received}\"");
        await WaitForListenerAsync(rig.Ns, 6000);
        await using (TcpConnection connection = await rig.Host.Tcp.ConnectAsync(new IPEndPoint(InteropRig.Kernel(v6), 6000)))
        {
            await using (FileStream file = File.OpenRead(path))
            {
                await file.CopyToAsync(connection, 256 * 1024);
            }
            connection.ShutdownSend();
            Assert.True(listener.WaitForExit(Limit), "nc -l did not finish");
        }
        Assert.Equal(length, new FileInfo(received).Length);
        Assert.Equal(sha, InteropRig.Sha256OfFile(received));
    }

    [SkippableTheory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task OurClient_DownloadsFromKernel_ByteExact(bool v6, bool offload)
    {
        InteropEnvironment.Require("nc.openbsd", "ss");
        await using var rig = InteropRig.Start(9000, offload);
        var (path, sha) = rig.MakeFile(128 << 20, seed: 7);
        using var sender = rig.Ns.Start($"sh -c \"nc.openbsd -N -l {InteropRig.Kernel(v6)} 6001 < {path}\"");
        await WaitForListenerAsync(rig.Ns, 6001);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        using var timeout = new CancellationTokenSource(Limit);
        await using (TcpConnection connection = await rig.Host.Tcp.ConnectAsync(new IPEndPoint(InteropRig.Kernel(v6), 6001), cancellationToken: timeout.Token))
        {
            byte[] buffer = new byte[256 * 1024];
            int n;
            while ((n = await connection.ReadAsync(buffer, timeout.Token)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                total += n;
            }
        }
        Assert.Equal(128L << 20, total);
        Assert.Equal(sha, hash.GetHashAndReset());
    }

    internal static async Task WaitForListenerAsync(NetNs ns, int port)
    {
        for (int i = 0; i < 100; i++)
        {
            var (_, output, _) = ns.Exec($"ss -ltnH sport = :{port}");
            if (output.Contains($":{port}", StringComparison.Ordinal))
            {
                return;
            }
            await Task.Delay(50);
        }
        Assert.Fail($"nothing listens on port {port} in {ns.Name}");
    }

    private static byte[] ChargenSha256(long length)
    {
        byte[] cycle = new byte[ChargenService.CycleLength * 64];
        for (int i = 0; i < cycle.Length; i++)
        {
            cycle[i] = ChargenService.PatternAt(i);
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long left = length; left > 0;)
        {
            int n = (int)Math.Min(cycle.Length, left);
            sha.AppendData(cycle, 0, n);
            left -= n;
        }
        return sha.GetHashAndReset();
    }
}
