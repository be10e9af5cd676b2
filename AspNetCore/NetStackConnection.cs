// Layer: ASP.NET Core integration. One accepted TCP connection as Kestrel's ConnectionContext. Like Kestrel's
// socket transport: a receive loop copies from the TCP receive queue straight into the input pipe's memory (the
// one copy on the way in; no StreamPipeReader in between) and a send loop hands the output pipe's segments to TCP
// (the one copy into the send buffer). Peer FIN completes the input; peer RST completes it with
// ConnectionResetException; Kestrel completing Transport.Output sends FIN; Abort sends RST (ARCHITECTURE.md §9).
// Neither Abort nor DisposeAsync can be held up by a peer that keeps its window shut: the send loop's writes
// are cancelled by Abort at once and by DisposeAsync after the drain timeout.
using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using NetStack.Tcp;

namespace NetStack.AspNetCore;

/// <summary>A Kestrel connection over a <see cref="TcpConnection"/>.</summary>
internal sealed partial class NetStackConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, INetStackConnectionFeature
{
    private static long s_lastId;

    private readonly TcpConnection _tcp;
    private readonly Pipe _input;    // the transport writes what TCP received; Kestrel reads
    private readonly Pipe _output;   // Kestrel writes; the transport sends
    private readonly int _segmentSize;
    private readonly CancellationTokenSource _connectionClosed = new();
    private readonly CancellationTokenSource _stopReceiving = new();
    private readonly CancellationTokenSource _stopSending = new();
    private readonly TimeSpan _sendDrainTimeout;
    private readonly Lock _gate = new();
    private Exception? _abortReason;
    private Task _processing = Task.CompletedTask;
    private int _closedFired;
    private int _disposed;

    private NetStackConnection(TcpConnection tcp, NetStackTransportOptions options, MemoryPool<byte> memoryPool)
    {
        _tcp = tcp;
        _segmentSize = options.ReceiveSegmentSize;
        _sendDrainTimeout = options.SendDrainTimeout;
        MemoryPool = memoryPool;
        // MemoryPool<byte>.Shared makes the pipes rent straight from ArrayPool<byte>.Shared (no owner objects), in
        // segments as large as one read: no per-read allocation and few, large copies.
        long maxRead = options.MaxReadBufferSize, maxWrite = options.MaxWriteBufferSize;
        _input = new Pipe(new PipeOptions(MemoryPool<byte>.Shared, PipeScheduler.ThreadPool, PipeScheduler.Inline,
            pauseWriterThreshold: maxRead, resumeWriterThreshold: maxRead / 2, minimumSegmentSize: _segmentSize, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(MemoryPool<byte>.Shared, PipeScheduler.Inline, PipeScheduler.ThreadPool,
            pauseWriterThreshold: maxWrite, resumeWriterThreshold: maxWrite / 2, minimumSegmentSize: _segmentSize, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionId = "NS" + Interlocked.Increment(ref s_lastId).ToString("X8", CultureInfo.InvariantCulture);
        LocalEndPoint = tcp.LocalEndPoint;
        RemoteEndPoint = tcp.RemoteEndPoint;
        ConnectionClosed = _connectionClosed.Token;
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<INetStackConnectionFeature>(this);
    }

    /// <summary>Wraps an accepted connection and starts its receive and send loops.</summary>
    public static NetStackConnection Start(TcpConnection tcp, NetStackTransportOptions options, MemoryPool<byte> memoryPool)
    {
        var connection = new NetStackConnection(tcp, options, memoryPool);
        connection._processing = connection.RunAsync();
        return connection;
    }

    /// <summary>The TCP connection underneath (for statistics).</summary>
    public TcpConnection Connection => _tcp;

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>Resets the connection (RST) and ends both loops; Kestrel then sees <paramref name="abortReason"/> on reads.</summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        lock (_gate)
        {
            if (_abortReason is not null)
            {
                return;
            }
            _abortReason = abortReason;
        }
        _tcp.Abort();
        _output.Reader.CancelPendingRead();
        _stopSending.Cancel();
        _stopReceiving.Cancel();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Kestrel is done with both pipes: the send loop sends what is queued and FIN, the receive loop stops. A
        // peer whose window stays shut gets the drain timeout, then what the pipe still holds is dropped; what TCP's
        // send buffer holds goes on as an orphan's data does, bounded by tcp_orphan_retries.
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        if (!_processing.IsCompleted)
        {
            _stopSending.CancelAfter(_sendDrainTimeout);
        }
        await _processing.ConfigureAwait(false);
        await _tcp.DisposeAsync().ConfigureAwait(false); // RST if the peer sent bytes nobody read (RFC 2525 §2.17)
        FireConnectionClosed();
        // The token sources are not disposed: Abort may still be called after this, and without timers they hold nothing.
    }

    private async Task RunAsync()
    {
        // Leave Kestrel's accept loop at once; the loops run on the thread pool.
        await Task.CompletedTask.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
        Task receive = ReceiveLoopAsync();
        Task send = SendLoopAsync();
        await receive.ConfigureAwait(false);
        await send.ConfigureAwait(false);
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedFired, 1) != 0)
        {
            return;
        }
        // Kestrel's callbacks on ConnectionClosed must not run inline on a transport loop.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c._connectionClosed.Cancel(), this, preferLocal: false);
    }

    /// <summary>The error Kestrel should see for a TCP failure: reset, our own abort, or the I/O error itself.</summary>
    private Exception MapError(IOException e)
    {
        lock (_gate)
        {
            if (_abortReason is { } reason)
            {
                return reason;
            }
        }
        return e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset }
            ? new ConnectionResetException(e.Message, e)
            : e;
    }

    private bool Aborted
    {
        get
        {
            lock (_gate)
            {
                return _abortReason is not null;
            }
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
