// Layer: ASP.NET Core integration. The two loops of a connection (Kestrel's socket transport is the model).
using System.Buffers;
using System.IO.Pipelines;

namespace NetStack.AspNetCore;

internal sealed partial class NetStackConnection
{
    /// <summary>
    /// TCP → input pipe. A zero-byte read waits for data without holding a buffer (an idle keep-alive connection
    /// holds none); then one copy from the receive queue into the pipe's memory. Ends at the peer's FIN, a reset,
    /// an abort, or when Kestrel completes its reader.
    /// </summary>
    private async Task ReceiveLoopAsync()
    {
        PipeWriter writer = _input.Writer;
        Exception? error = null;
        try
        {
            CancellationToken stop = _stopReceiving.Token;
            while (true)
            {
                await _tcp.ReadAsync(Memory<byte>.Empty, stop).ConfigureAwait(false);
                Memory<byte> memory = writer.GetMemory(_segmentSize);
                int n = _tcp.TryRead(memory.Span);
                if (n == 0)
                {
                    break; // FIN
                }
                if (n < 0)
                {
                    continue; // woken without data
                }
                writer.Advance(n);
                FlushResult result = await writer.FlushAsync().ConfigureAwait(false);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break; // Kestrel is done reading, or the send side ended the connection
                }
            }
        }
        catch (IOException e)
        {
            error = MapError(e);
        }
        catch (OperationCanceledException)
        {
            error = AbortReason; // stopped by Abort (an error for Kestrel) or by DisposeAsync (nobody reads any more)
        }
        catch (ObjectDisposedException e)
        {
            error = AbortReason ?? e;
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
            FireConnectionClosed();
        }
    }

    /// <summary>
    /// Output pipe → TCP: each segment is copied once into the send buffer (waiting while it is full, until Abort
    /// or the drain timeout of DisposeAsync cancels the wait). When Kestrel completes the output, FIN follows the
    /// queued data; on abort the RST has already gone.
    /// </summary>
    private async Task SendLoopAsync()
    {
        PipeReader reader = _output.Reader;
        Exception? error = null;
        try
        {
            CancellationToken stop = _stopSending.Token;
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break; // Abort
                }
                ReadOnlySequence<byte> buffer = result.Buffer;
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    await _tcp.WriteAsync(segment, stop).ConfigureAwait(false);
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (IOException e)
        {
            error = MapError(e);
        }
        catch (ObjectDisposedException e)
        {
            error = AbortReason ?? e;
        }
        catch (OperationCanceledException)
        {
            // Abort, or DisposeAsync's drain timeout: the rest of the output is dropped; TCP still sends what its
            // send buffer holds, then FIN (the connection is closed as an orphan).
            error = AbortReason;
        }
        finally
        {
            if (error is null && !Aborted)
            {
                try
                {
                    _tcp.ShutdownSend(); // RFC 9293 §3.10.4: FIN after the queued data
                }
                catch (IOException)
                {
                    // Already reset: nothing left to close.
                }
            }
            await reader.CompleteAsync(error).ConfigureAwait(false);
            // The connection is over for Kestrel once its output is: stop the receive loop as the socket transport
            // does when it disposes the socket (a peer that keeps sending would otherwise keep it alive; bytes it
            // sent that nobody read turn the close into RST, RFC 2525 §2.17).
            _input.Writer.CancelPendingFlush();
            _stopReceiving.Cancel();
        }
    }

    private Exception? AbortReason
    {
        get
        {
            lock (_gate)
            {
                return _abortReason;
            }
        }
    }
}
