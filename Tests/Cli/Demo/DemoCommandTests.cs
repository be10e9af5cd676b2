using System.CommandLine;
using NetStack.Cli.Demo;

namespace NetStack.Tests.Cli.Demo;

/// <summary>`netstack demo` itself, at small sizes: the output must say every hash matched.</summary>
public class DemoCommandTests
{
    [Fact]
    public async Task Demo_Http11_Small_Run_Matches_Every_Hash()
    {
        var output = new StringWriter();
        int exit = await DemoRun.RunAsync(new DemoOptions
        {
            DownloadBytes = 3 << 20,
            UploadBytes = (2 << 20) + 12345,
            RawTcpBytes = 1 << 20,
            KeepAliveRequests = 20,
            CloseRequests = 5,
            Progress = false,
        }, output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        string text = output.ToString();
        Assert.True(exit == 0, text);
        Assert.Contains($"{DemoRun.AllMatched} (3 bodies)", text, StringComparison.Ordinal);
        Assert.Matches(@"download\s+3\.0 MiB in [0-9.]+ s = [0-9.]+ Gbit/s, SHA-256 match", text);
        Assert.Matches(@"upload\s+2\.0 MiB in [0-9.]+ s = [0-9.]+ Gbit/s, SHA-256 match", text);
        Assert.Contains("req/s", text, StringComparison.Ordinal);
        Assert.Contains("TCP client: SRTT", text, StringComparison.Ordinal);
        Assert.Contains("GRO server:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_H2c_Over_An_Impaired_Wire_With_Capture_Matches_Every_Hash()
    {
        string pcap = Path.Combine(Path.GetTempPath(), $"netstack-demo-{Guid.NewGuid():N}.pcap");
        try
        {
            var output = new StringWriter();
            int exit = await DemoRun.RunAsync(new DemoOptions
            {
                DownloadBytes = 1 << 20,
                UploadBytes = 1 << 20,
                KeepAliveRequests = 5,
                CloseRequests = 0,
                Http2 = true,
                Progress = false,
                Network = new DemoNetworkOptions { LossPercent = 1, ReorderPercent = 1, Delay = TimeSpan.FromMilliseconds(1), Seed = 7, PcapPath = pcap },
            }, output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
            string text = output.ToString();
            Assert.True(exit == 0, text);
            Assert.Contains($"{DemoRun.AllMatched} (2 bodies)", text, StringComparison.Ordinal);
            Assert.Contains("HTTP/2 (h2c)", text, StringComparison.Ordinal);
            Assert.Matches(@"wire: client→server [0-9,]+ packets, lost [0-9,]+", text);
            Assert.True(new FileInfo(pcap).Length > 24, "the capture holds packets after the pcap header");
        }
        finally
        {
            File.Delete(pcap);
        }
    }

    [Fact]
    public async Task Demo_Compare_Runs_The_Same_Work_On_Both_And_Prints_Ratios()
    {
        var output = new StringWriter();
        int exit = await DemoRun.RunAsync(new DemoOptions
        {
            DownloadBytes = 1 << 20,
            UploadBytes = 1 << 20,
            RawTcpBytes = 1 << 20,
            KeepAliveRequests = 10,
            CloseRequests = 3,
            Progress = false,
            Mode = DemoMode.Compare,
        }, output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        string text = output.ToString();
        Assert.True(exit == 0, text);
        Assert.Contains($"{DemoRun.AllMatched} (6 bodies)", text, StringComparison.Ordinal);
        Assert.Contains("netstack demo --kernel:", text, StringComparison.Ordinal);
        foreach (string row in new[] { "download Gbit/s", "upload Gbit/s", "raw TCP Gbit/s", "keep-alive req/s", "close req/s", "CPU cores (bulk)" })
        {
            Assert.Matches(System.Text.RegularExpressions.Regex.Escape(row) + @"\s+netstack\s+[0-9.,]+\s+kernel\s+[0-9.,]+\s+ratio [0-9.]+x", text);
        }
    }

    [Fact]
    public async Task Demo_Kernel_Runs_Only_On_Loopback_Sockets()
    {
        var output = new StringWriter();
        int exit = await DemoRun.RunAsync(new DemoOptions
        {
            DownloadBytes = 1 << 20,
            UploadBytes = 0,
            KeepAliveRequests = 5,
            CloseRequests = 0,
            Progress = false,
            Mode = DemoMode.Kernel,
        }, output, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        string text = output.ToString();
        Assert.True(exit == 0, text);
        Assert.Contains($"{DemoRun.AllMatched} (1 body)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("TCP client: SRTT", text, StringComparison.Ordinal);
        Assert.DoesNotContain("comparison", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(1_000_003L)]      // exactly one block
    [InlineData(2_500_017L)]      // across two block ends
    public void Pattern_Digest_Is_The_Sha256_Of_The_Body_Bytes(long length)
    {
        // Built independently of DemoPattern.At: byte i of a body is Block[i mod BlockLength].
        var body = new byte[length];
        for (long i = 0; i < length; i++)
        {
            body[i] = DemoPattern.Block[(int)(i % DemoPattern.BlockLength)];
        }
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)), DemoPattern.Digest(length));
    }

    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("64K", 65536L)]
    [InlineData("1.5M", 1572864L)]
    [InlineData("1G", 1073741824L)]
    [InlineData("0", 0L)]
    public void Sizes_Parse_With_Binary_Suffixes(string text, long bytes)
    {
        Assert.True(DemoCommand.TryParseSize(text, out long parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("12X")]
    [InlineData("5000G")]
    [InlineData("NaN")]
    public void Bad_Sizes_Are_Refused(string text) => Assert.False(DemoCommand.TryParseSize(text, out _));

    [Theory]
    [InlineData("demo --loss 150")]
    [InlineData("demo --cc vegas")]
    [InlineData("demo --reorder -1")]
    [InlineData("demo --delay -5")]
    [InlineData("demo --download lots")]
    [InlineData("demo --pcap-snaplen 10")]
    [InlineData("demo --gso Sometimes")]
    [InlineData("demo --kernel --compare")]
    [InlineData("demo --kernel --loss 1")]
    [InlineData("demo --kernel --pcap x.pcap")]
    public void Bad_Options_Are_Parse_Errors(string line)
    {
        var root = new RootCommand { DemoCommand.Create() };
        Assert.NotEmpty(root.Parse(line).Errors);
    }
}
