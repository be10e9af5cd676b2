using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using NetStack.Tcp;

namespace NetStack.Cli.Iperf3;

/// <summary>What an iperf3 client test should do.</summary>
/// <param name="Server">The iperf3 server.</param>
public sealed record Iperf3ClientOptions(IPEndPoint Server)
{
    /// <summary>Test length in seconds (iperf3 -t).</summary>
    public int Seconds { get; init; } = 5;

    /// <summary>Parallel streams (iperf3 -P).</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>The server sends (iperf3 -R).</summary>
    public bool Reverse { get; init; }

    /// <summary>Block size of each write (iperf3 -l).</summary>
    public int BlockSize { get; init; } = 128 * 1024;
}

/// <summary>What an iperf3 client test measured.</summary>
/// <param name="Bytes">Bytes our side sent (normal) or received (reverse).</param>
/// <param name="ServerBytes">Bytes the server reported for its side.</param>
/// <param name="Seconds">From TEST_RUNNING to TEST_END (our side).</param>
public sealed record Iperf3ClientResult(long Bytes, long ServerBytes, double Seconds)
{
    /// <summary>Throughput of our side in bit/s.</summary>
    public double BitsPerSecond => Seconds > 0 ? Bytes * 8 / Seconds : 0;
}

/// <summary>An iperf3 client (TCP, normal or reverse, -P streams) that connects out through a stack, checked against the real iperf3 server.</summary>
public static class Iperf3Client
{
    /// <summary>Runs one test against <see cref="Iperf3ClientOptions.Server"/>; throws on a protocol error or a refusal.</summary>
    public static async Task<Iperf3ClientResult> RunAsync(TcpProtocol tcp, Iperf3ClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tcp);
        ArgumentNullException.ThrowIfNull(options);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(options.Seconds + 60));
        CancellationToken ct = deadline.Token;
        byte[] cookie = Iperf3Protocol.NewCookie();
        TcpConnection control = await tcp.ConnectAsync(options.Server, cancellationToken: ct).ConfigureAwait(false);
        var streams = new List<TcpConnection>();
        var counters = new long[options.Parallel];
        using var stopStreams = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task[] workers = [];
        var clock = new Stopwatch();
        double seconds = 0;
        long serverBytes = 0;
        try
        {
            await control.WriteAsync(cookie, ct).ConfigureAwait(false);
            while (true)
            {
                Iperf3State state = await Iperf3Protocol.ReadStateAsync(control, ct).ConfigureAwait(false);
                switch (state)
                {
                    case Iperf3State.ParamExchange:
                        await Iperf3Protocol.WriteJsonAsync(control, Parameters(options), ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.CreateStreams:
                        for (int i = 0; i < options.Parallel; i++)
                        {
                            TcpConnection stream = await tcp.ConnectAsync(options.Server, cancellationToken: ct).ConfigureAwait(false);
                            streams.Add(stream);
                            await stream.WriteAsync(cookie, ct).ConfigureAwait(false);
                        }
                        break;
                    case Iperf3State.TestStart:
                        break;
                    case Iperf3State.TestRunning:
                        clock.Start();
                        workers = streams.Select((s, index) => options.Reverse
                            ? Iperf3Streams.ReceiveAsync(s, counters, index, stopStreams.Token)
                            : Iperf3Streams.SendAsync(s, options.BlockSize, counters, index, stopStreams.Token, ct)).ToArray();
                        await Task.Delay(TimeSpan.FromSeconds(options.Seconds), ct).ConfigureAwait(false);
                        seconds = clock.Elapsed.TotalSeconds;
                        if (!options.Reverse)
                        {
                            await stopStreams.CancelAsync().ConfigureAwait(false);
                            await Task.WhenAll(workers).ConfigureAwait(false);
                        }
                        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.TestEnd, ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.ExchangeResults:
                        await stopStreams.CancelAsync().ConfigureAwait(false);
                        await Task.WhenAll(workers).ConfigureAwait(false);
                        var ours = streams.Select((s, index) => new Iperf3StreamResult(Iperf3Protocol.StreamId(index), Interlocked.Read(ref counters[index]),
                            s.GetStatistics().Retransmissions)).ToList();
                        await Iperf3Protocol.WriteJsonAsync(control, Iperf3Protocol.Results(ours, sender: !options.Reverse, seconds), ct).ConfigureAwait(false);
                        JsonObject theirs = await Iperf3Protocol.ReadJsonAsync(control, ct).ConfigureAwait(false);
                        serverBytes = Iperf3Protocol.TotalBytes(theirs);
                        break;
                    case Iperf3State.DisplayResults:
                        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.IperfDone, ct).ConfigureAwait(false);
                        control.ShutdownSend();
                        return new Iperf3ClientResult(counters.Sum(), serverBytes, seconds);
                    case Iperf3State.AccessDenied:
                        throw new IOException("iperf3: the server is busy (ACCESS_DENIED)");
                    case Iperf3State.ServerError:
                        byte[] codes = new byte[8];
                        await control.ReadExactlyAsync(codes, ct).ConfigureAwait(false);
                        throw new IOException($"iperf3: server error i_errno {BinaryPrimitives.ReadInt32BigEndian(codes)} errno {BinaryPrimitives.ReadInt32BigEndian(codes.AsSpan(4))}");
                    default:
                        throw new InvalidDataException($"iperf3: unexpected state {state}");
                }
            }
        }
        finally
        {
            await stopStreams.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(workers).ConfigureAwait(false);
            foreach (TcpConnection stream in streams)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            await control.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static JsonObject Parameters(Iperf3ClientOptions options)
    {
        var json = new JsonObject
        {
            ["tcp"] = true,
            ["omit"] = 0,
            ["time"] = options.Seconds,
            ["num"] = 0,
            ["blockcount"] = 0,
            ["parallel"] = options.Parallel,
            ["len"] = options.BlockSize,
            ["pacing_timer"] = 1000,
            ["client_version"] = "3.12",
        };
        if (options.Reverse)
        {
            json["reverse"] = true;
        }
        return json;
    }
}
