// One relayed TCP connection: a stack connection on one side, a host socket on the other, two pumps without extra
// copies. Sandbox → host sends the receive queue's own chunks with one scatter-gather send (a reused
// SocketAsyncEventArgs: no allocation per send); host → sandbox reads into a pooled chunk that joins the send buffer
// by reference. Back-pressure is the pumps' order: a pump takes more only when its destination took the last
// (docs/ARCHITECTURE.md §3 buffer ownership).
using System.Net.Sockets;
using NetStack.Buffers;
using NetStack.Tcp;

namespace NetStack.Proxy;

/// <summary>Relays one TCP connection between the stack and a host socket until both sides are done.</summary>
internal sealed class TcpRelay
{
    /// <summary>Bytes taken from the receive queue per scatter-gather send.</summary>
    private const int MaxUpBytes = 256 * 1024;

    /// <summary>Reads shorter than this are copied into the send buffer and the chunk returned at once, so small reads never pin large chunks.</summary>
    private const int CopyBelow = 4096;

    private readonly TcpConnection _sandbox;
    private readonly Socket _host;
    private readonly ProxyMetrics _metrics;
    private readonly int _chunkSize;
    private readonly CancellationTokenSource _stop = new();
    private long _lastActivity = Environment.TickCount64;
    private int _reset;

    internal TcpRelay(TcpConnection sandbox, Socket host, ProxyMetrics metrics, int chunkSize)
    {
        _sandbox = sandbox;
        _host = host;
        _metrics = metrics;
        _chunkSize = chunkSize;
    }

    /// <summary>The host side's socket.</summary>
    internal Socket Host => _host;

    /// <summary>Milliseconds (Environment.TickCount64) of the last byte relayed either way.</summary>
    internal long LastActivity => Volatile.Read(ref _lastActivity);

    /// <summary>Relays until both directions end; then closes both sides (gracefully, or with RST after a reset).</summary>
    internal async Task RunAsync()
    {
        try
        {
            await Task.WhenAll(PumpUpAsync(), PumpDownAsync()).ConfigureAwait(false);
        }
        finally
        {
            _host.Dispose(); // after a reset, already closed with RST
            await _sandbox.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Resets both sides (RST to the sandbox, an abortive close to the host peer) and stops both pumps.</summary>
    internal void Reset(ProxyEvent why)
    {
        if (Interlocked.Exchange(ref _reset, 1) != 0)
        {
            return;
        }
        _metrics.Events.Increment(why);
        try
        {
            _host.LingerState = new LingerOption(true, 0); // close sends RST (SO_LINGER 0)
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _host.Dispose();
        _sandbox.Abort();
        _stop.Cancel();
    }

    /// <summary>Sandbox → host: the received chunks go out as one gather send, then release (the window opens); FIN → shutdown(SHUT_WR).</summary>
    private async Task PumpUpAsync()
    {
        var views = new List<ArraySegment<byte>>(32);
        var batch = new List<ArraySegment<byte>>(GatherSender.MaxSegments);
        using var sender = new GatherSender(_host);
        CancellationToken stop = _stop.Token;
        try
        {
            while (true)
            {
                int n = _sandbox.TryReceiveByReference(views, MaxUpBytes);
                if (n < 0)
                {
                    await _sandbox.WaitReadableAsync(stop).ConfigureAwait(false);
                    continue;
                }
                if (n == 0)
                {
                    _host.Shutdown(SocketShutdown.Send); // RFC 9293 §3.6: the peer's FIN half-closes; the host sees EOF
                    return;
                }
                try
                {
                    // Not cancellable: a reset disposes the socket, which ends the send before the views are released.
                    if (views.Count <= GatherSender.MaxSegments)
                    {
                        await sender.SendAsync(views).ConfigureAwait(false);
                    }
                    else
                    {
                        for (int i = 0; i < views.Count; i += GatherSender.MaxSegments)
                        {
                            batch.Clear();
                            for (int j = i; j < Math.Min(views.Count, i + GatherSender.MaxSegments); j++)
                            {
                                batch.Add(views[j]);
                            }
                            await sender.SendAsync(batch).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    _sandbox.ReleaseReceived();
                    views.Clear();
                }
                _metrics.AddUp(n);
                Volatile.Write(ref _lastActivity, Environment.TickCount64);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Fail(e);
        }
    }

    /// <summary>Host → sandbox: reads into a pooled chunk that joins the send buffer by reference; EOF → FIN.</summary>
    private async Task PumpDownAsync()
    {
        CancellationToken stop = _stop.Token;
        PacketBufferPool pool = _sandbox.Pool;
        try
        {
            await _sandbox.WaitWritableAsync(stop).ConfigureAwait(false);
            while (true)
            {
                PacketBuffer? chunk = pool.Rent(_chunkSize, 0);
                try
                {
                    int n = await _host.ReceiveAsync(chunk.TailroomMemory[.._chunkSize], SocketFlags.None, stop).ConfigureAwait(false);
                    if (n == 0)
                    {
                        _sandbox.ShutdownSend(); // the host peer's EOF becomes our FIN after the queued data
                        return;
                    }
                    _metrics.AddDown(n);
                    Volatile.Write(ref _lastActivity, Environment.TickCount64);
                    if (n < CopyBelow)
                    {
                        ReadOnlyMemory<byte> bytes = chunk.TailroomMemory[..n];
                        while (!bytes.IsEmpty)
                        {
                            int taken = _sandbox.TryWrite(bytes.Span);
                            bytes = bytes[taken..];
                            if (!bytes.IsEmpty)
                            {
                                await _sandbox.WaitWritableAsync(stop).ConfigureAwait(false);
                            }
                        }
                    }
                    else
                    {
                        chunk.Append(n);
                        while (!_sandbox.TrySendByReference(chunk))
                        {
                            await _sandbox.WaitWritableAsync(stop).ConfigureAwait(false);
                        }
                        chunk = null; // the send buffer owns it now
                    }
                }
                finally
                {
                    chunk?.Release();
                }
                // Back-pressure: read the host socket again only when the send buffer has room (its kernel window closes meanwhile).
                await _sandbox.WaitWritableAsync(stop).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            Fail(e);
        }
    }

    /// <summary>A pump failed: the side whose connection holds an error reset it (the stack's errors surface as IOException); reset the other.</summary>
    private void Fail(Exception e)
    {
        if (e is OperationCanceledException || Volatile.Read(ref _reset) != 0)
        {
            return; // stopped by a reset already counted
        }
        bool sandboxSide = _sandbox.Error is not (SocketError.Success or SocketError.Shutdown);
        Reset(sandboxSide ? ProxyEvent.SandboxReset : ProxyEvent.HostReset);
    }
}
