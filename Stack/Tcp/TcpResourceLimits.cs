// Layer: transport (TCP). The protocol-wide side of the per-connection limits: how many closed connections
// (orphans) are held, and the "limit reached" logs of the receive-memory and timer paths, each written at
// most once a minute (docs/ARCHITECTURE.md §6).
using Microsoft.Extensions.Logging;
using NetStack.Diagnostics;
using NetStack.Network;

namespace NetStack.Tcp;

/// <summary>Shared by every connection of one <see cref="TcpProtocol"/>. Thread-safe.</summary>
internal sealed class TcpResourceLimits(ILogger logger, TimeProvider clock)
{
    private int _orphans;

    /// <summary>Receive memory was full: text dropped or out-of-order data pruned.</summary>
    public LimitLog ReceiveMemory { get; } = new(logger, clock, "TCP receive memory (text dropped or out-of-order data pruned)");

    /// <summary>A connection was dropped by a timer limit: persist (tcp_retries2), orphans, user timeout.</summary>
    public LimitLog Timeouts { get; } = new(logger, clock, "TCP connections dropped by tcp_retries2 on the persist timer, tcp_orphan_retries, tcp_max_orphans or TCP_USER_TIMEOUT");

    /// <summary>Closed connections not yet gone (FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK).</summary>
    public int Orphans => Volatile.Read(ref _orphans);

    /// <summary>A connection became an orphan; returns how many there are now.</summary>
    public int AddOrphan() => Interlocked.Increment(ref _orphans);

    /// <summary>An orphan ended.</summary>
    public void RemoveOrphan() => Interlocked.Decrement(ref _orphans);
}
