// Layer: ASP.NET Core integration. Settings of the Kestrel transport over a NetStack stack.
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.AspNetCore;

/// <summary>Settings of <see cref="NetStackTransportFactory"/>.</summary>
public sealed record NetStackTransportOptions
{
    /// <summary>
    /// The stack Kestrel listens on for plain <see cref="System.Net.IPEndPoint"/>s. When null the transport binds
    /// only <see cref="NetStackEndPoint"/>s (which name their stack) and leaves other end points to other transports.
    /// </summary>
    public NetworkStack? Stack { get; set; }

    /// <summary>Half-open plus unaccepted connections per listener (the TCP listen backlog).</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// Nagle's algorithm off on accepted connections (true by default, as Kestrel's socket transport's
    /// <c>SocketTransportOptions.NoDelay</c>): Kestrel writes a response's headers and body separately, and with Nagle
    /// on the body waits for the client's delayed ACK.
    /// </summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>TCP settings of accepted connections; the stack's defaults when null.</summary>
    public TcpConnectionOptions? ConnectionOptions { get; set; }

    /// <summary>
    /// Bytes received and not yet read by Kestrel before the transport stops reading (the TCP window then closes);
    /// 0 for no limit. Kestrel's socket transport uses 1 MiB.
    /// </summary>
    public long MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes Kestrel may queue for sending before its writes wait; 0 for no limit. Kestrel's socket transport uses 64 KiB.</summary>
    public long MaxWriteBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long DisposeAsync lets the send loop hand the output Kestrel left behind to TCP. A peer that keeps its
    /// window shut would otherwise hold the connection's disposal for ever; after this, what the output pipe still
    /// holds is dropped and the connection closes (the TCP send buffer's bytes still go, bounded by the orphan limits).
    /// </summary>
    public TimeSpan SendDrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Size of the buffers the transport receives into (one copy from the TCP receive queue).</summary>
    public int ReceiveSegmentSize { get; set; } = 64 * 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Backlog, 1, nameof(Backlog));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxReadBufferSize, nameof(MaxReadBufferSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxWriteBufferSize, nameof(MaxWriteBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveSegmentSize, 4096, nameof(ReceiveSegmentSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendDrainTimeout, TimeSpan.Zero, nameof(SendDrainTimeout));
        ConnectionOptions?.Validate();
    }
}
