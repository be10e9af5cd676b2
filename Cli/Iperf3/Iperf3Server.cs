using System.Diagnostics;
using System.Text.Json.Nodes;
using NetStack.Cli.Serve;
using NetStack.Tcp;

namespace NetStack.Cli.Iperf3;

/// <summary>What one iperf3 test served by <see cref="Iperf3Server"/> moved.</summary>
/// <param name="Reverse">The server sent (iperf3 -R).</param>
/// <param name="Streams">Data streams.</param>
/// <param name="Bytes">Bytes the server sent or received over all streams.</param>
/// <param name="ClientBytes">Bytes the client reported for its side.</param>
/// <param name="Seconds">From TEST_RUNNING to TEST_END.</param>
public sealed record Iperf3TestSummary(bool Reverse, int Streams, long Bytes, long ClientBytes, double Seconds)
{
    /// <summary>Throughput of the server's side in bit/s.</summary>
    public double BitsPerSecond => Seconds > 0 ? Bytes * 8 / Seconds : 0;
}

/// <summary>
/// An iperf3 server (TCP tests, normal and reverse mode, -P streams) on the stack, talking to the real
/// iperf3 3.x client: one test at a time, as iperf3 itself (a second client gets ACCESS_DENIED).
/// </summary>
public sealed class Iperf3Server : TcpService
{
    /// <summary>iperf3's port.</summary>
    public const int DefaultPort = 5201;

    /// <summary>Default for <see cref="MaxDuration"/>.</summary>
    public static readonly TimeSpan DefaultMaxDuration = TimeSpan.FromSeconds(60);

    /// <summary>Default for <see cref="MaxStreams"/>.</summary>
    public const int DefaultMaxStreams = 32;

    private readonly Lock _gate = new();
    private Iperf3ServerTest? _active;
    private long _completed;
    private long _refused;

    /// <summary>
    /// Longest test served (iperf3 -t, plus -O omitted seconds), as iperf3's own <c>--server-max-duration</c>: a longer
    /// or unbounded (-t 0, -n, -k) request is refused at parameter exchange, the client told why, so one client cannot
    /// hold the service (it serves one test at a time) for long.
    /// </summary>
    public TimeSpan MaxDuration { get; init; } = DefaultMaxDuration;

    /// <summary>Most parallel streams a test may ask for (iperf3 -P); more is refused with iperf3's "too many streams" error.</summary>
    public int MaxStreams { get; init; } = DefaultMaxStreams;

    /// <summary>Tests refused for asking beyond <see cref="MaxDuration"/> or <see cref="MaxStreams"/>.</summary>
    public long TestsRefused => Interlocked.Read(ref _refused);

    /// <inheritdoc/>
    public override string Name => "iperf3";

    /// <summary>Tests run to the end.</summary>
    public long TestsCompleted => Interlocked.Read(ref _completed);

    private Iperf3TestSummary? _lastTest;

    /// <summary>
    /// The last completed test, or null. Set once the client's results are in, before DISPLAY_RESULTS goes to the
    /// client: a client that has exited finds it here (it could otherwise exit before we read its IPERF_DONE).
    /// </summary>
    public Iperf3TestSummary? LastTest => Volatile.Read(ref _lastTest);

    /// <inheritdoc/>
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        byte[] cookie = new byte[Iperf3Protocol.CookieSize];
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await connection.ReadExactlyAsync(cookie, timeout.Token).ConfigureAwait(false);
        }
        string key = Iperf3Protocol.CookieText(cookie);
        Iperf3ServerTest? control = null, data = null;
        lock (_gate)
        {
            if (_active is null)
            {
                control = _active = new Iperf3ServerTest(key, MaxDuration, MaxStreams, () => Interlocked.Increment(ref _refused));
            }
            else if (_active.Cookie == key)
            {
                data = _active;
            }
        }
        if (control is not null)
        {
            try
            {
                await control.RunAsync(connection, Completed, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                lock (_gate)
                {
                    _active = null;
                }
                control.Finish();
            }
        }
        else if (data is not null)
        {
            await data.AddStreamAsync(connection).ConfigureAwait(false);
        }
        else
        {
            await Iperf3Protocol.WriteStateAsync(connection, Iperf3State.AccessDenied, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => base.ToString() + $"; tests {TestsCompleted}, refused {TestsRefused}";

    private void Completed(Iperf3TestSummary summary)
    {
        Interlocked.Add(ref summary.Reverse ? ref BytesOutField : ref BytesInField, summary.Bytes);
        Interlocked.Increment(ref _completed);
        Volatile.Write(ref _lastTest, summary);
    }
}

/// <summary>One test on the server side: the control connection drives it, data connections join it.</summary>
internal sealed class Iperf3ServerTest(string cookie, TimeSpan maxDuration, int maxStreams, Action refused)
{
    private readonly List<TcpConnection> _streams = [];
    private readonly TaskCompletionSource _allConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _expected = int.MaxValue;
    private bool _accepting;

    public string Cookie { get; } = cookie;

    private static readonly bool s_trace = Environment.GetEnvironmentVariable("NETSTACK_IPERF3_TRACE") == "1";
    private readonly Stopwatch _since = Stopwatch.StartNew();

    private void Trace(string what)
    {
        if (s_trace)
        {
            Console.Error.WriteLine($"iperf3 {Cookie[..6]} +{_since.Elapsed.TotalMilliseconds:F1} ms: {what}");
        }
    }

    /// <summary>A data connection with our cookie: joins while streams are being created, then waits for the end of the test.</summary>
    public Task AddStreamAsync(TcpConnection connection)
    {
        lock (_streams)
        {
            if (!_accepting || _streams.Count >= _expected)
            {
                return Task.CompletedTask; // a stray stream: closed by the caller
            }
            _streams.Add(connection);
            if (_streams.Count == _expected)
            {
                _allConnected.TrySetResult();
            }
        }
        return _finished.Task;
    }

    public void Finish() => _finished.TrySetResult();

    /// <summary>Runs the test on its control connection; <paramref name="completed"/> gets the summary as soon as both sides' results are known.</summary>
    public async Task RunAsync(TcpConnection control, Action<Iperf3TestSummary> completed, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.ParamExchange, deadline.Token).ConfigureAwait(false);
        JsonObject parameters = await Iperf3Protocol.ReadJsonAsync(control, deadline.Token).ConfigureAwait(false);
        if (parameters["tcp"] is null || parameters["udp"] is not null || parameters["sctp"] is not null || parameters["bidirectional"] is not null)
        {
            await Iperf3Protocol.WriteStateAsync(control, Iperf3State.AccessDenied, deadline.Token).ConfigureAwait(false);
            throw new InvalidDataException("iperf3: only TCP tests in one direction are served");
        }
        int parallel = Get(parameters, "parallel", 1);
        int duration = Get(parameters, "time", 10);
        int omit = Get(parameters, "omit", 0);
        int blockSize = Get(parameters, "len", 128 * 1024);
        bool reverse = parameters["reverse"] is JsonValue r && (r.TryGetValue(out bool b) ? b : r.TryGetValue(out int i) && i != 0);
        if (duration <= 0 || omit < 0 || (long)duration + omit > maxDuration.TotalSeconds)
        {
            // As iperf3 --server-max-duration: -t 0 and byte- or block-limited tests (sent as time 0) are unbounded.
            refused();
            await Iperf3Protocol.WriteServerErrorAsync(control, Iperf3Error.DurationTooLong, deadline.Token).ConfigureAwait(false);
            throw new InvalidDataException($"iperf3: a {duration} s test (+{omit} s omitted) asked for; at most {maxDuration.TotalSeconds:0} s are served");
        }
        if (parallel > maxStreams)
        {
            refused();
            await Iperf3Protocol.WriteServerErrorAsync(control, Iperf3Error.TooManyStreams, deadline.Token).ConfigureAwait(false);
            throw new InvalidDataException($"iperf3: {parallel} parallel streams asked for; at most {maxStreams} are served");
        }
        if (parallel < 1 || blockSize is < 1 or > (1 << 20))
        {
            await Iperf3Protocol.WriteStateAsync(control, Iperf3State.AccessDenied, deadline.Token).ConfigureAwait(false);
            throw new InvalidDataException("iperf3: parameters out of range");
        }
        lock (_streams)
        {
            _expected = parallel;
            _accepting = true;
        }
        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.CreateStreams, deadline.Token).ConfigureAwait(false);
        await _allConnected.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
        lock (_streams)
        {
            _accepting = false;
        }
        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.TestStart, deadline.Token).ConfigureAwait(false);
        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.TestRunning, deadline.Token).ConfigureAwait(false);

        using var stopStreams = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var testDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        testDeadline.CancelAfter(TimeSpan.FromSeconds(duration + 60));
        var counters = new long[parallel];
        var clock = Stopwatch.StartNew();
        Task[] workers = _streams.Select((s, index) => reverse
            ? Iperf3Streams.SendAsync(s, blockSize, counters, index, stopStreams.Token, testDeadline.Token)
            : Iperf3Streams.ReceiveAsync(s, counters, index, stopStreams.Token)).ToArray();

        Trace($"running, {parallel} streams, reverse {reverse}");
        Iperf3State state = await Iperf3Protocol.ReadStateAsync(control, testDeadline.Token).ConfigureAwait(false);
        Trace($"control: {state}");
        double seconds = clock.Elapsed.TotalSeconds;
        await stopStreams.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(workers).ConfigureAwait(false);
        // iperf3's server closes its data sockets at TEST_END; its client may be blocked reading a whole block
        // from one, so it needs the FIN to go on to the results exchange.
        foreach (TcpConnection stream in _streams)
        {
            stream.ShutdownSend();
        }
        Trace("workers stopped, data streams shut down");
        if (state != Iperf3State.TestEnd)
        {
            throw new InvalidDataException($"iperf3: expected TEST_END, got {state}");
        }
        using var end = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        end.CancelAfter(TimeSpan.FromSeconds(30));
        Trace("exchanging results");
        var ours = _streams.Select((s, index) => new Iperf3StreamResult(Iperf3Protocol.StreamId(index), Interlocked.Read(ref counters[index]),
            s.GetStatistics().Retransmissions)).ToList();
        // The state and our results go in one write, before the client's results are read (iperf3 answers after
        // reading them): a client that reads our results with a loop giving up on EAGAIN, as iperf3's Nread does,
        // then finds them already waiting. Each direction of the control connection is its own byte stream, so
        // the client sees the same bytes in the same order as from iperf3.
        await Iperf3Protocol.WriteStateAndJsonAsync(control, Iperf3State.ExchangeResults, Iperf3Protocol.Results(ours, sender: reverse, seconds), end.Token)
            .ConfigureAwait(false);
        JsonObject clientResults = await Iperf3Protocol.ReadJsonAsync(control, end.Token).ConfigureAwait(false);
        Trace("client results read");
        completed(new Iperf3TestSummary(reverse, parallel, ours.Sum(s => s.Bytes), Iperf3Protocol.TotalBytes(clientResults), seconds));
        await Iperf3Protocol.WriteStateAsync(control, Iperf3State.DisplayResults, end.Token).ConfigureAwait(false);
        try
        {
            _ = await Iperf3Protocol.ReadStateAsync(control, end.Token).ConfigureAwait(false); // IPERF_DONE
        }
        catch (EndOfStreamException)
        {
        }
    }

    private static int Get(JsonObject parameters, string name, int fallback) =>
        parameters[name] is JsonValue v && v.TryGetValue(out int value) ? value : fallback;
}
