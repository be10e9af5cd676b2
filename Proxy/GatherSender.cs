// One host socket's scatter-gather sends without an allocation each: a reusable SocketAsyncEventArgs whose BufferList
// is the receive queue's views and whose completion is a ValueTask (ManualResetValueTaskSourceCore), for the relay's
// sandbox → host pump. Socket.SendAsync(IList<ArraySegment<byte>>) would allocate a Task per send.
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace NetStack.Proxy;

/// <summary>Sends a list of segments on one stream socket, one send at a time, reusing itself (docs/ARCHITECTURE.md §3).</summary>
internal sealed class GatherSender : SocketAsyncEventArgs, IValueTaskSource<int>
{
    /// <summary>Segments per send that the runtime gathers without allocating (it stack-allocates 8 iovecs on Unix).</summary>
    internal const int MaxSegments = 8;

    private readonly Socket _socket;
    private ManualResetValueTaskSourceCore<int> _source;

    /// <summary>A sender for <paramref name="socket"/>; the execution context does not flow into completions.</summary>
    internal GatherSender(Socket socket)
        : base(unsafeSuppressExecutionContextFlow: true)
    {
        _socket = socket;
        _source.RunContinuationsAsynchronously = false; // the pump continues on the completing thread, as Socket's own awaitables do
    }

    /// <summary>
    /// Sends every byte of <paramref name="segments"/> (a stream socket's send completes whole); the result is the
    /// byte count, or a <see cref="SocketException"/>. The segments must stay valid until it completes.
    /// </summary>
    internal ValueTask<int> SendAsync(IList<ArraySegment<byte>> segments)
    {
        _source.Reset();
        BufferList = segments; // at most MaxSegments: beyond, the runtime allocates its iovec and GCHandle arrays
        if (_socket.SendAsync(this))
        {
            return new ValueTask<int>(this, _source.Version);
        }
        return SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
    }

    /// <inheritdoc/>
    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _source.SetResult(BytesTransferred);
        }
        else
        {
            _source.SetException(new SocketException((int)SocketError));
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);
}
