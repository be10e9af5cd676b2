using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using NetStack.Cli.Demo;

namespace NetStack.Tests.Interop;

/// <summary>What one curl run produced: exit code, the SHA-256 and length of its stdout, the stdout's start as text, stderr.</summary>
internal sealed record CurlResult(int Exit, byte[] Sha256, long Length, string Text, string Error);

/// <summary>
/// Runs the kernel's curl inside a namespace. Its stdout is hashed here as it streams (no file, no sha256sum: .NET's
/// SHA-256 uses the CPU's SHA instructions), and its stdin can be fed the HTTP service's pattern.
/// </summary>
internal static class Curl
{
    private static readonly ConcurrentDictionary<long, Lazy<byte[]>> s_digests = new();

    /// <summary>SHA-256 of the first <paramref name="length"/> bytes of the pattern <c>GET /bytes/N</c> serves; computed once per length, streaming.</summary>
    public static byte[] PatternSha256(long length) => s_digests.GetOrAdd(length, n => new Lazy<byte[]>(() =>
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long done = 0; done < n;)
        {
            ReadOnlySpan<byte> chunk = DemoPattern.At(done, (int)Math.Min(int.MaxValue, n - done));
            sha.AppendData(chunk);
            done += chunk.Length;
        }
        return sha.GetHashAndReset();
    })).Value;

    /// <summary>The base URL of the stack's HTTP service (IPv6 in brackets; curl then needs -g).</summary>
    public static string Url(System.Net.IPAddress address, string path) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"http://[{address}]{path}" : $"http://{address}{path}";

    /// <summary>
    /// Runs <c>curl -sS --fail -g ARGS</c> in <paramref name="ns"/>; with <paramref name="feed"/> ≥ 0 its stdin gets that
    /// many bytes of the pattern, then EOF. Killed after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<CurlResult> RunAsync(NetNs ns, string arguments, TimeSpan timeout, long feed = -1)
    {
        Process curl = ns.Start($"curl -sS --fail -g {arguments}", redirectInput: feed >= 0);
        using var cts = new CancellationTokenSource(timeout);
        Task<string> error = curl.StandardError.ReadToEndAsync(cts.Token);
        Task<(byte[], long, string)> output = HashAsync(curl.StandardOutput.BaseStream, cts.Token);
        Task input = feed >= 0 ? FeedAsync(curl.StandardInput.BaseStream, feed, cts.Token) : Task.CompletedTask;
        try
        {
            await Task.WhenAll(output, input);
            await curl.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            curl.Kill(entireProcessTree: true);
            return new CurlResult(-1, [], -1, "", $"curl timed out after {timeout}: curl {arguments}");
        }
        catch (IOException e)
        {
            // curl closed its stdin early (it failed): its exit code and stderr say why.
            await curl.WaitForExitAsync(CancellationToken.None);
            return new CurlResult(curl.ExitCode, [], -1, "", await error + "\n(stdin: " + e.Message + ")");
        }
        var (sha, length, text) = await output;
        return new CurlResult(curl.ExitCode, sha, length, text, await error);
    }

    internal static async Task<(byte[] Sha256, long Length, string Text)> HashAsync(Stream stdout, CancellationToken cancellationToken)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = new byte[256 * 1024];
        var start = new MemoryStream();
        long total = 0;
        int n;
        while ((n = await stdout.ReadAsync(buffer, cancellationToken)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            if (start.Length < 4096)
            {
                start.Write(buffer, 0, (int)Math.Min(n, 4096 - start.Length));
            }
            total += n;
        }
        return (sha.GetHashAndReset(), total, System.Text.Encoding.ASCII.GetString(start.ToArray()));
    }

    internal static async Task FeedAsync(Stream stdin, long length, CancellationToken cancellationToken)
    {
        await using (stdin)
        {
            for (long done = 0; done < length;)
            {
                ReadOnlyMemory<byte> chunk = DemoPattern.Block.AsMemory((int)(done % DemoPattern.BlockLength));
                chunk = chunk[..(int)Math.Min(chunk.Length, Math.Min(256 * 1024, length - done))];
                await stdin.WriteAsync(chunk, cancellationToken);
                done += chunk.Length;
            }
        }
    }
}
