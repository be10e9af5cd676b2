// netstack demo: the client's side of the bulk transfers, each body hashed (SHA-256) on both ends.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using NetStack.Cli.Serve;

namespace NetStack.Cli.Demo;

/// <summary>What one bulk transfer did.</summary>
internal sealed record TransferResult(string Name, long Bytes, TimeSpan Elapsed, string SentHash, string ReceivedHash)
{
    public bool Matched => Bytes >= 0 && SentHash == ReceivedHash;

    public double GigabitsPerSecond => Bytes * 8 / Elapsed.TotalSeconds / 1e9;
}

/// <summary>Bytes moved so far by the running transfer (read by the progress line).</summary>
internal sealed class TransferProgress
{
    private long _bytes;

    public long Bytes => Volatile.Read(ref _bytes);

    public void Add(int n) => Interlocked.Add(ref _bytes, n);

    public void Reset() => Volatile.Write(ref _bytes, 0);
}

internal static class DemoTransfers
{
    private const int ChunkSize = 256 * 1024;

    /// <summary>GET /bytes/N: hashes the body as it arrives; the server sent the pattern, whose digest is known beforehand.</summary>
    public static async Task<TransferResult> DownloadAsync(HttpClient client, long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var watch = Stopwatch.StartNew();
        long received;
        using (HttpResponseMessage response = await client.GetAsync(string.Create(CultureInfo.InvariantCulture, $"bytes/{length}"), HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false))
        {
            response.EnsureSuccessStatusCode();
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                received = await ReadAndHashAsync(body, hash, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        TimeSpan elapsed = watch.Elapsed;
        string got = Convert.ToHexStringLower(hash.GetHashAndReset());
        return new TransferResult("download", received == length ? received : -1, elapsed, DemoPattern.Digest(length), got);
    }

    /// <summary>Reads <paramref name="stream"/> to its end in large chunks, hashing each; returns the byte count.</summary>
    public static async Task<long> ReadAndHashAsync(Stream stream, IncrementalHash hash, TransferProgress progress, CancellationToken cancellationToken)
    {
        var buffer = new byte[ChunkSize];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            total += n;
            progress.Add(n);
        }
        return total;
    }

    /// <summary>POST /sha256: sends the pattern (its digest known beforehand); the server answers with the hash and count of what arrived.</summary>
    public static async Task<TransferResult> UploadAsync(HttpClient client, long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        using var content = new PatternContent(length, progress);
        var watch = Stopwatch.StartNew();
        using HttpResponseMessage response = await client.PostAsync("sha256", content, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        string answer = (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).TrimEnd('\n');
        TimeSpan elapsed = watch.Elapsed;
        long count = response.Headers.TryGetValues(HttpService.BodyLengthHeader, out var values)
            && long.TryParse(values.FirstOrDefault(), CultureInfo.InvariantCulture, out long c) ? c : -1;
        return new TransferResult("upload", count == length ? count : -1, elapsed, content.Hash, answer);
    }

    /// <summary>Sequential short GETs (keep-alive, or a new connection each with Connection: close); requests per second.</summary>
    public static async Task<double> ShortRequestsAsync(HttpClient client, int count, bool close, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "hello")
            {
                Version = client.DefaultRequestVersion, // a hand-made request does not take the client's defaults
                VersionPolicy = client.DefaultVersionPolicy,
            };
            if (close)
            {
                request.Headers.ConnectionClose = true;
            }
            using HttpResponseMessage response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK || body != "hello")
            {
                throw new InvalidOperationException($"short request {i}: {(int)response.StatusCode} '{body}'");
            }
        }
        return count / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Writes <paramref name="length"/> pattern bytes to <paramref name="sender"/>, then <paramref name="shutdown"/>
    /// (FIN), while <paramref name="receiver"/> is read to its end and hashed: a bare-TCP transfer, no HTTP.
    /// </summary>
    public static async Task<TransferResult> RawAsync(Stream sender, Action shutdown, Stream receiver, long length, TransferProgress progress, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        Task<string> send = Task.Run(async () =>
        {
            long sent = 0;
            while (sent < length)
            {
                int offset = (int)(sent % DemoPattern.BlockLength);
                int n = (int)Math.Min(Math.Min(ChunkSize, length - sent), DemoPattern.BlockLength - offset);
                await sender.WriteAsync(new ReadOnlyMemory<byte>(DemoPattern.Block, offset, n), cancellationToken).ConfigureAwait(false);
                sent += n;
            }
            shutdown();
            return DemoPattern.Digest(sent);
        }, cancellationToken);
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = await ReadAndHashAsync(receiver, received, progress, cancellationToken).ConfigureAwait(false);
        TimeSpan elapsed = watch.Elapsed;
        string sentHash = await send.ConfigureAwait(false);
        return new TransferResult("raw TCP", total == length ? total : -1, elapsed, sentHash, Convert.ToHexStringLower(received.GetHashAndReset()));
    }

    /// <summary>A request body of <c>length</c> pattern bytes, hashed as it is written.</summary>
    private sealed class PatternContent(long length, TransferProgress progress) : HttpContent
    {
        public string Hash { get; } = DemoPattern.Digest(length);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            long sent = 0;
            while (sent < length)
            {
                int n = (int)Math.Min(ChunkSize, length - sent);
                int offset = (int)(sent % DemoPattern.BlockLength);
                n = Math.Min(n, DemoPattern.BlockLength - offset);
                var chunk = new ReadOnlyMemory<byte>(DemoPattern.Block, offset, n);
                await stream.WriteAsync(chunk, cancellationToken).ConfigureAwait(false); // straight from the block: TCP copies it once
                sent += n;
                progress.Add(n);
            }
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length;
            return true;
        }
    }
}
