// Layer: transport (TCP), application API. A connection as a Stream with NetworkStream semantics, and as an
// IDuplexPipe. One copy in (application → send buffer) and one copy out (receive queue → application).
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using NetStack.Buffers;

namespace NetStack.Tcp;

/// <summary>
/// A TCP connection. As a <see cref="Stream"/>: <see cref="ReadAsync(Memory{byte}, CancellationToken)"/> returns
/// 0 after the peer's FIN; a reset surfaces as <see cref="IOException"/> wrapping
/// <see cref="SocketException"/> (ConnectionReset); a zero-byte read waits for data; one read and one write may
/// run at once. <see cref="ShutdownSend"/> sends FIN; <see cref="DisposeAsync"/> closes gracefully (RST when
/// unread data would be lost); <see cref="Abort"/> resets. <see cref="Pipe"/> gives an <see cref="IDuplexPipe"/> view.
/// </summary>
public sealed class TcpConnection : Stream
{
    private readonly TcpControlBlock _tcb;
    private IDuplexPipe? _pipe;
    private int _disposed;

    internal TcpConnection(TcpControlBlock tcb)
    {
        _tcb = tcb;
        tcb.Connection = this;
    }

    internal TcpControlBlock ControlBlock => _tcb;

    /// <summary>Connection state.</summary>
    public TcpState State => _tcb.State;

    /// <summary>Our end point.</summary>
    public IPEndPoint LocalEndPoint => new(_tcb.Tuple.LocalAddress.ToIPAddress(), _tcb.Tuple.LocalPort);

    /// <summary>The peer's end point.</summary>
    public IPEndPoint RemoteEndPoint => new(_tcb.Tuple.RemoteAddress.ToIPAddress(), _tcb.Tuple.RemotePort);

    /// <summary>The options this connection runs with.</summary>
    public TcpConnectionOptions Options => _tcb.Options;

    /// <summary>Nagle's algorithm off (like <see cref="Socket.NoDelay"/>); setting it true sends what Nagle held back.</summary>
    public bool NoDelay
    {
        get => _tcb.Options.NoDelay;
        set => _tcb.SetNoDelay(value);
    }

    /// <summary>Keepalive probes on an idle connection (SO_KEEPALIVE), with the idle time and interval of <see cref="Options"/>.</summary>
    public bool KeepAlive
    {
        get => _tcb.Options.KeepAlive;
        set => _tcb.SetKeepAlive(value);
    }

    /// <summary>A snapshot of state, RTT, RTO, windows and counters.</summary>
    public TcpConnectionStatistics GetStatistics() => _tcb.GetStatistics();

    /// <summary>The error that ended the connection, or <see cref="SocketError.Success"/>.</summary>
    public SocketError Error => _tcb.Error;

    /// <summary>Completes when the handshake does; throws <see cref="SocketException"/> when it fails.</summary>
    public async Task ConnectedAsync(CancellationToken cancellationToken = default)
    {
        if (!await _tcb.Established.WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            SocketError error = _tcb.Error;
            throw new SocketException((int)(error == SocketError.Success ? SocketError.ConnectionRefused : error));
        }
    }

    /// <summary>Copies available bytes without waiting: the count read, 0 at end of stream; -1 when nothing is available yet.</summary>
    public int TryRead(Span<byte> buffer)
    {
        int n = _tcb.Receive(buffer, out _, out bool wouldBlock);
        return wouldBlock ? -1 : n;
    }

    /// <summary>Queues as many bytes as the send buffer takes without waiting; returns the count.</summary>
    public int TryWrite(ReadOnlySpan<byte> buffer) => _tcb.Send(buffer);

    /// <summary>
    /// Receive by reference, for relays: adds up to <paramref name="maxBytes"/> readable bytes to
    /// <paramref name="views"/> as views of the pooled chunks the receive queue holds (no copy), for a
    /// scatter-gather write such as <see cref="Socket.SendAsync(IList{ArraySegment{byte}})"/>. Returns the byte
    /// count, 0 at end of stream, -1 when nothing is readable yet (await <see cref="WaitReadableAsync"/>). The views
    /// stay valid, and their bytes count against the advertised window, until <see cref="ReleaseReceived"/>: the
    /// window opens as they are consumed. One such read at a time; no <see cref="Stream"/> read meanwhile.
    /// </summary>
    public int TryReceiveByReference(IList<ArraySegment<byte>> views, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(views);
        int n = _tcb.BeginReceiveByReference(views, maxBytes, out _, out bool wouldBlock);
        return wouldBlock ? -1 : n;
    }

    /// <summary>Consumes what the last <see cref="TryReceiveByReference"/> returned: its chunks go back to the pool and the window opens.</summary>
    public void ReleaseReceived() => _tcb.EndReceiveByReference();

    /// <summary>
    /// Send by reference, for relays: <paramref name="chunk"/> (rented from <see cref="Pool"/>, holding the bytes to
    /// send) joins the send buffer without a copy and the connection takes over the caller's reference. Returns
    /// false, leaving the chunk to the caller, while the send buffer is full (await <see cref="WaitWritableAsync"/>):
    /// the buffer's bound is the back-pressure. Throws as a write does when the send side is closed or reset.
    /// </summary>
    public bool TrySendByReference(PacketBuffer chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        return _tcb.SendByReference(chunk);
    }

    /// <summary>Completes when bytes, end of stream or an error can be read.</summary>
    public ValueTask WaitReadableAsync(CancellationToken cancellationToken = default) => _tcb.WaitReadableAsync(cancellationToken);

    /// <summary>Completes when the send buffer has room, or the connection can no longer send.</summary>
    public ValueTask WaitWritableAsync(CancellationToken cancellationToken = default) => _tcb.WaitWritableAsync(cancellationToken);

    /// <summary>The pool of the connection's stack: where chunks for <see cref="TrySendByReference"/> come from.</summary>
    public PacketBufferPool Pool => _tcb.Protocol.Stack.Pool;

    /// <summary>Sends FIN after the queued data (shutdown(SHUT_WR)); reading continues until the peer's FIN.</summary>
    public void ShutdownSend() => _tcb.ShutdownSend();

    /// <summary>Resets the connection (RST) and drops queued data in both directions.</summary>
    public void Abort() => _tcb.Abort();

    /// <summary>A pipe view: reads come from the connection, writes go to it; completing the writer sends FIN.</summary>
    public IDuplexPipe Pipe => _pipe ??= new StreamDuplexPipe(this);

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanWrite => true;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            int n = _tcb.Receive(buffer.Span, out _, out bool wouldBlock);
            if (!wouldBlock)
            {
                return n;
            }
            await _tcb.WaitReadableAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            int n = _tcb.Send(buffer.Span);
            buffer = buffer[n..];
            if (!buffer.IsEmpty && n == 0)
            {
                await _tcb.WaitWritableAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// Reads synchronously: blocks the calling thread until data, EOF or an error (like a blocking socket's recv). The
    /// thread is woken directly by the packet path, not through a thread-pool continuation, so synchronous readers on
    /// pool threads cannot starve the pool of the threads that would wake them.
    /// </summary>
    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            int n = _tcb.Receive(buffer, out _, out bool wouldBlock);
            if (!wouldBlock)
            {
                return n;
            }
            _tcb.WaitReadable();
        }
    }

    /// <inheritdoc cref="Read(Span{byte})"/>
    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public override int ReadByte()
    {
        byte b = 0;
        return Read(new Span<byte>(ref b)) == 0 ? -1 : b;
    }

    /// <summary>
    /// Writes synchronously: blocks the calling thread while the send buffer is full (like a blocking socket's send),
    /// woken directly by the packet path as acknowledgements free space (see <see cref="Read(Span{byte})"/>).
    /// </summary>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            int n = _tcb.Send(buffer);
            buffer = buffer[n..];
            if (!buffer.IsEmpty && n == 0)
            {
                _tcb.WaitWritable();
            }
        }
    }

    /// <inheritdoc cref="Write(ReadOnlySpan{byte})"/>
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public override void WriteByte(byte value) => Write(new ReadOnlySpan<byte>(in value));

    /// <summary>Data is pushed as the windows allow; flushing has nothing to wait for.</summary>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Closes gracefully (FIN after queued data) without waiting for the peer; wakes pending reads.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _tcb.Close();
        }
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    /// <summary>The pipe view over the stream; the writer's completion shuts down the send side.</summary>
    private sealed class StreamDuplexPipe(TcpConnection connection) : IDuplexPipe
    {
        // 64 KiB pieces (not the 4 KiB defaults): a read takes what a GRO'd segment brings, a write fills a super-segment.
        public PipeReader Input { get; } = PipeReader.Create(connection, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));

        public PipeWriter Output { get; } = new ShutdownOnCompleteWriter(PipeWriter.Create(connection, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true)), connection);
    }

    private sealed class ShutdownOnCompleteWriter(PipeWriter inner, TcpConnection connection) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void Complete(Exception? exception = null)
        {
            inner.Complete(exception);
            if (exception is null)
            {
                connection.ShutdownSend();
            }
            else
            {
                connection.Abort();
            }
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            await inner.CompleteAsync(exception).ConfigureAwait(false);
            if (exception is null)
            {
                connection.ShutdownSend();
            }
            else
            {
                connection.Abort();
            }
        }
    }
}
