// The whole inbound path: link endpoint (RX validation, GRO), network layer (IPv4/IPv6, reassembly, ICMP), UDP
// and TCP with a listening socket, driven by a script of packets, clock steps and application calls.
using NetStack.Buffers;
using NetStack.Fuzz.Support;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// A fresh stack per input (see <see cref="StackScript"/> for the input format and the invariants); state carries
/// across the packets of one input. Every buffer is back in the pool after teardown.
/// </summary>
public sealed class StackInboundTarget : IFuzzTarget
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-stack");

    /// <inheritdoc/>
    public string Name => "StackInbound";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var reader = new PacketRecordReader(input);
        var random = new InputRandom(input, salt: 41);
        var script = new StackScript(_pool, reader.NextByte());
        try
        {
            script.Run(ref reader, ref random);
        }
        finally
        {
            script.Teardown();
        }
        Check.NoLeaks(_pool);
    }
}
