// `netstack serve`: the test services a stack offers on its address (echo, discard, chargen, iperf3). Each is
// a TCP listener on the stack with an accept loop and one task per connection; counters are printed on exit.
// A connection that makes no progress either way for the idle timeout is reset (a silent peer, or one that
// keeps its window shut, cannot hold a service's connection for ever).
using System.Net;
using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>A TCP service on a stack: accepts connections and runs <see cref="HandleAsync"/> for each.</summary>
public abstract class TcpService : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _live = 1; // connections being served, plus one for the service itself until it stops
    private TcpConnectionListener? _listener;
    private Task? _acceptLoop;
    private long _accepted;
    private long _failed;
    private long _idleTimeouts;
    private long _bookkeepingVisits;
    private TimeProvider _clock = TimeProvider.System;

    /// <summary>Service name for logs and counters.</summary>
    public abstract string Name { get; }

    /// <summary>Port it listens on.</summary>
    public int Port { get; private set; }

    /// <summary>Connections accepted so far.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections => Math.Max(0, Volatile.Read(ref _live) - (_stop.IsCancellationRequested ? 0 : 1));

    /// <summary>Connections that ended with an error.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Connections reset because they made no progress for <see cref="IdleTimeout"/>.</summary>
    public long IdleTimeouts => Interlocked.Read(ref _idleTimeouts);

    /// <summary>
    /// A connection that neither received nor sent a byte for this long is reset (checked every this often, so
    /// it goes after one to two timeouts). Zero: never.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; }

    /// <summary>
    /// Entries of the service's connection bookkeeping that admitting connections has touched, over all accepts: a
    /// work count for the tests (each accept touches only the connection it admits, never the live ones, so the
    /// cost of an accept does not grow with the connections being served).
    /// </summary>
    internal long BookkeepingVisits => Interlocked.Read(ref _bookkeepingVisits);

    /// <summary>Bytes received from clients.</summary>
    public long BytesIn => Interlocked.Read(ref BytesInField);

    /// <summary>Bytes sent to clients.</summary>
    public long BytesOut => Interlocked.Read(ref BytesOutField);

    /// <summary>Counter behind <see cref="BytesIn"/>, for handlers.</summary>
    protected long BytesInField;

    /// <summary>Counter behind <see cref="BytesOut"/>, for handlers.</summary>
    protected long BytesOutField;

    /// <summary>Listens on every address of the stack at <paramref name="port"/> and starts accepting.</summary>
    public void Start(TcpProtocol tcp, int port, TcpConnectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tcp);
        Port = port;
        _clock = tcp.Stack.Clock;
        _listener = tcp.Listen(new IPEndPoint(IPAddress.IPv6Any, port), 256, options);
        _acceptLoop = AcceptLoopAsync(_listener, _stop.Token);
    }

    /// <summary>Serves one connection; the caller disposes it afterwards.</summary>
    protected abstract Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken);

    /// <summary>
    /// Reads until the client's FIN, counting bytes in and handing each piece to <paramref name="onData"/> (which
    /// may write back), then sends our FIN.
    /// </summary>
    protected async Task ReadUntilFinAsync(TcpConnection connection, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask>? onData,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = await connection.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            Interlocked.Add(ref BytesInField, n);
            if (onData is not null)
            {
                await onData(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
        }
        connection.ShutdownSend();
    }

    private async Task AcceptLoopAsync(TcpConnectionListener listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            TcpConnection connection;
            try
            {
                connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            Interlocked.Increment(ref _live); // O(1) per accept: each connection only counts itself in and out
            Interlocked.Increment(ref _bookkeepingVisits);
            _ = RunAsync(connection, cancellationToken);
        }
    }

    private async Task RunAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        await Task.Yield();
        using ITimer? idle = IdleTimeout > TimeSpan.Zero
            ? _clock.CreateTimer(static s => ((IdleWatch)s!).Check(), new IdleWatch(this, connection), IdleTimeout, IdleTimeout)
            : null;
        try
        {
            await HandleAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException) // whatever a handler throws costs its connection, never the service
        {
            Interlocked.Increment(ref _failed);
            LastError = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            Leave();
        }
    }

    /// <summary>One connection (or, at shutdown, the service itself) is done; the last one out completes <see cref="DisposeAsync"/>'s wait.</summary>
    private void Leave()
    {
        if (Interlocked.Decrement(ref _live) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Resets its connection when the bytes received and sent have not moved since the last check.</summary>
    private sealed class IdleWatch(TcpService service, TcpConnection connection)
    {
        private long _last = -1;

        public void Check()
        {
            TcpConnectionStatistics statistics = connection.GetStatistics();
            long progress = statistics.BytesReceived + statistics.BytesSent;
            if (progress != _last)
            {
                _last = progress;
                return;
            }
            Interlocked.Increment(ref service._idleTimeouts);
            connection.Abort();
        }
    }

    /// <summary>The last error a connection ended with (diagnostics), or null.</summary>
    public string? LastError { get; private set; }

    /// <summary>One line of counters.</summary>
    public override string ToString() =>
        $"{Name}/{Port}: connections {Accepted} (failed {Failed}{(IdleTimeouts > 0 ? $", idle {IdleTimeouts}" : "")}), in {BytesIn} B, out {BytesOut} B" + (LastError is null ? "" : $"; last error: {LastError}");

    /// <summary>Stops accepting and waits for the connections to end (they are cancelled).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        Leave();
        await _drained.Task.ConfigureAwait(false);
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
