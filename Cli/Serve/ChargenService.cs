// `netstack serve`: the chargen service (RFC 864 over TCP).
using NetStack.Tcp;

namespace NetStack.Cli.Serve;

/// <summary>
/// A chargen-style source (after RFC 864's TCP service): sends the RFC 864 line pattern — 72 printable ASCII
/// characters and CR LF per line, each line starting one character further along the 95 printable
/// characters — until the client closes or resets. The stream is deterministic, so a client can check it.
/// </summary>
public sealed class ChargenService : TcpService
{
    /// <summary>The standard port (RFC 864).</summary>
    public const int DefaultPort = 19;

    /// <summary>Bytes in one full cycle of the pattern (95 lines of 74 bytes).</summary>
    public const int CycleLength = 95 * 74;

    private static readonly byte[] s_block = MakeBlock(16);

    /// <inheritdoc/>
    public override string Name => "chargen";

    /// <summary>Byte <paramref name="position"/> of the stream (for clients that check what they read).</summary>
    public static byte PatternAt(long position)
    {
        int inCycle = (int)(position % CycleLength);
        int line = inCycle / 74, column = inCycle % 74;
        return column switch
        {
            72 => (byte)'\r',
            73 => (byte)'\n',
            _ => (byte)(' ' + ((line + column) % 95)),
        };
    }

    /// <inheritdoc/>
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        // The peer's FIN or RST ends the test: watch for it while sending.
        var readerDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _ = Task.Run(async () =>
        {
            byte[] sink = new byte[4096];
            try
            {
                while (await connection.ReadAsync(sink, cts.Token).ConfigureAwait(false) > 0)
                {
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            await cts.CancelAsync().ConfigureAwait(false);
            readerDone.TrySetResult();
        }, CancellationToken.None);
        try
        {
            while (!cts.IsCancellationRequested)
            {
                await connection.WriteAsync(s_block, cts.Token).ConfigureAwait(false);
                Interlocked.Add(ref BytesOutField, s_block.Length);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
        connection.ShutdownSend();
        await readerDone.Task.ConfigureAwait(false);
    }

    private static byte[] MakeBlock(int cycles)
    {
        byte[] block = new byte[CycleLength * cycles];
        for (int i = 0; i < block.Length; i++)
        {
            block[i] = PatternAt(i);
        }
        return block;
    }
}
