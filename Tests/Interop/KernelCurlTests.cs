using NetStack.Cli.Serve;
using NetStack.Link;
using NetStack.Link.Simulation;

namespace NetStack.Tests.Interop;

/// <summary>
/// The kernel's curl against `netstack serve`'s HTTP service (Kestrel over our TCP) through a real TUN device:
/// GET /bytes/N downloaded and hashed as it streams, POST /sha256 fed the same pattern, the digest checked on both
/// ends (curl's stdout here; the service's own digest and byte count there). 1 GiB each way at MTU 1500 and 65520,
/// 64 MiB at 1280 and 9000, IPv4 and IPv6, offloads on and off; and 64 MiB each way under loss and reordering.
/// </summary>
[Collection(KernelInteropCollection.Name)]
public class KernelCurlTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);
    private const string WriteOut = "-w \"%{stderr}http %{http_code} up %{size_upload} B down %{size_download} B in %{time_total} s\\n\"";

    public static TheoryData<bool, int, bool, long> Matrix()
    {
        var data = new TheoryData<bool, int, bool, long>();
        foreach (bool v6 in new[] { false, true })
        {
            foreach (int mtu in new[] { 1280, 1500, 9000, 65520 })
            {
                foreach (bool offload in new[] { true, false })
                {
                    data.Add(v6, mtu, offload, 1L << 30); // 1 GiB each way at every MTU
                }
            }
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Matrix))]
    public async Task KernelCurl_DownloadsAndUploads_DigestsMatch(bool v6, int mtu, bool offload, long length)
    {
        InteropEnvironment.Require("curl");
        await using var rig = InteropRig.Start(mtu, offload);
        await DownloadAsync(rig, v6, length);
        await UploadAsync(rig, v6, length);
        output.WriteLine(rig.Host.DescribeCounters());
    }

    [SkippableTheory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public async Task KernelCurl_LossAndReordering_EveryByteChecked(bool v6, bool offload)
    {
        InteropEnvironment.Require("curl", "tc");
        var fallback = new ImpairmentOptions { LossPercent = 1, ReorderPercent = 10, ReorderExtraDelay = TimeSpan.FromMilliseconds(1) };
        await using var rig = InteropRig.Start(1500, offload, netem: "delay 1ms reorder 10% 50% loss 1%", fallback: fallback);
        output.WriteLine("impairment: " + rig.Impairment);
        await DownloadAsync(rig, v6, 64L << 20);
        await UploadAsync(rig, v6, 64L << 20);
        output.WriteLine(rig.Host.DescribeCounters());
    }

    private async Task DownloadAsync(InteropRig rig, bool v6, long length)
    {
        string url = Curl.Url(InteropRig.Stack(v6), $":{HttpService.DefaultPort}/bytes/{length}");
        CurlResult result = await Curl.RunAsync(rig.Ns, $"{WriteOut} --max-time {Limit.TotalSeconds} {url}", Limit);
        output.WriteLine("download: " + result.Error.Trim());
        Assert.True(result.Exit == 0, $"curl exit {result.Exit}: {result.Error}\n{rig.Host.DescribeCounters()}");
        Assert.Equal(length, result.Length);
        Assert.Equal(Convert.ToHexStringLower(Curl.PatternSha256(length)), Convert.ToHexStringLower(result.Sha256));
    }

    /// <summary>
    /// curl streams its stdin (-T -) as a POST: over IPv4 with a Content-Length (RFC 9112 §6.2), over IPv6 in the
    /// chunked transfer coding (§7.1), so both of Kestrel's body readers carry a full-size transfer.
    /// </summary>
    private async Task UploadAsync(InteropRig rig, bool v6, long length)
    {
        string url = Curl.Url(InteropRig.Stack(v6), $":{HttpService.DefaultPort}/sha256");
        string framing = v6 ? "" : $"-H \"Transfer-Encoding:\" -H \"Content-Length: {length}\" "; // the empty header drops curl's chunked
        CurlResult result = await Curl.RunAsync(rig.Ns, $"{WriteOut} --max-time {Limit.TotalSeconds} -X POST -T - {framing}{url}", Limit, feed: length);
        output.WriteLine("upload: " + result.Error.Trim());
        Assert.True(result.Exit == 0, $"curl exit {result.Exit}: {result.Error}\n{rig.Host.DescribeCounters()}");
        string expected = Convert.ToHexStringLower(Curl.PatternSha256(length));
        Assert.Equal(expected + "\n", result.Text); // what the service hashed, as curl received it
        Assert.Equal($"{length} {expected}", rig.Host.Http?.LastUpload); // and as the service recorded it
        if (!v6)
        {
            Assert.Contains($"up {length} B", result.Error, StringComparison.Ordinal); // sized: curl sent exactly the pattern we fed it
        }
    }
}
