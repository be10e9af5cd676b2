// An established TCP connection under fire: the harness completes a handshake from peer 0 (and may queue data to
// send), then the input's script injects segments relative to the connection's state, steps the clock and calls
// the application API.
using NetStack.Buffers;
using NetStack.Fuzz.Support;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: the <see cref="StackScript"/> configuration byte, one byte of set-up (bits 0–1: the peer to connect, bit 2:
/// queue 3000 bytes to send before the script, bit 3: shut down the send side first), then the script. The handshake
/// must succeed (a SYN-ACK acknowledging the SYN, then an accepted connection). Same invariants as the stack script.
/// </summary>
public sealed class TcpConnectionTarget : IFuzzTarget
{
    private static readonly byte[] Data = new byte[3000];

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-tcp-connection");

    /// <inheritdoc/>
    public string Name => "TcpConnection";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var reader = new PacketRecordReader(input);
        var random = new InputRandom(input, salt: 43);
        var script = new StackScript(_pool, reader.NextByte());
        try
        {
            byte setup = reader.NextByte();
            var connection = script.Establish(setup & 3);
            Check.True(connection is not null, "the handshake from a fresh peer gives an accepted connection");
            if ((setup & 4) != 0)
            {
                connection.TryWrite(Data);
            }
            if ((setup & 8) != 0)
            {
                connection.ShutdownSend();
            }
            script.Run(ref reader, ref random);
        }
        finally
        {
            script.Teardown();
        }
        Check.NoLeaks(_pool);
    }
}
