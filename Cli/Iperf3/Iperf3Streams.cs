using NetStack.Tcp;

namespace NetStack.Cli.Iperf3;

/// <summary>The data side of an iperf3 test: a stream sends blocks or counts what it reads until stopped.</summary>
internal static class Iperf3Streams
{
    /// <summary>
    /// Sends <paramref name="blockSize"/>-byte blocks until <paramref name="stop"/> or the peer closes; counts bytes
    /// into <paramref name="counters"/>[index]. A block being written when the test stops is finished (only
    /// <paramref name="abort"/> cuts it short), so the count is exactly what the connection took.
    /// </summary>
    public static async Task SendAsync(TcpConnection stream, int blockSize, long[] counters, int index, CancellationToken stop, CancellationToken abort)
    {
        byte[] block = new byte[blockSize];
        new Random(index + 1).NextBytes(block);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await stream.WriteAsync(block, abort).ConfigureAwait(false);
                Interlocked.Add(ref counters[index], block.Length);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
        }
    }

    /// <summary>Reads until <paramref name="stop"/>, EOF or a reset; counts bytes.</summary>
    public static async Task ReceiveAsync(TcpConnection stream, long[] counters, int index, CancellationToken stop)
    {
        byte[] buffer = new byte[128 * 1024];
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buffer, stop).ConfigureAwait(false);
                if (n == 0)
                {
                    return;
                }
                Interlocked.Add(ref counters[index], n);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
        }
    }
}
