// What happened on one host, for a failing test's output: connections, retransmissions, timeouts, and every drop
// by reason (IP, TCP, UDP, its link's impairments and faults).
using System.Text;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Simulation;

/// <summary>A snapshot of one host's counters (<see cref="VirtualHost.Summary"/>).</summary>
public sealed record HostSummary
{
    /// <summary>The host.</summary>
    public required string Host { get; init; }

    /// <summary>Connections opened (active and passive).</summary>
    public long ConnectionsOpened { get; init; }

    /// <summary>Connections that reached ESTABLISHED.</summary>
    public long ConnectionsEstablished { get; init; }

    /// <summary>Connections the stack holds now (any state, TIME-WAIT included).</summary>
    public int ConnectionsNow { get; init; }

    /// <summary>Fast retransmits (RFC 5681 §3.2).</summary>
    public long FastRetransmits { get; init; }

    /// <summary>Retransmission timeouts (RFC 6298).</summary>
    public long RetransmissionTimeouts { get; init; }

    /// <summary>Resets sent and received.</summary>
    public long Resets { get; init; }

    /// <summary>Every non-zero drop counter, as "layer.reason" → count.</summary>
    public required IReadOnlyDictionary<string, long> Drops { get; init; }

    /// <inheritdoc/>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("  ").Append(Host).Append(": connections ").Append(ConnectionsOpened).Append(" opened, ").Append(ConnectionsEstablished)
            .Append(" established, ").Append(ConnectionsNow).Append(" now; retransmits ").Append(FastRetransmits).Append(" fast, ")
            .Append(RetransmissionTimeouts).Append(" RTO; resets ").Append(Resets).Append("; drops ");
        text.Append(Drops.Count == 0 ? "none" : string.Join(", ", Drops.Select(d => $"{d.Key}={d.Value}")));
        return text.ToString();
    }

    internal static HostSummary Of(VirtualHost host)
    {
        NetworkStack stack = host.Stack;
        var tcp = stack.Tcp.Events;
        var drops = new SortedDictionary<string, long>(StringComparer.Ordinal);
        Add(drops, "ip", stack.Drops.NonZero());
        Add(drops, "tcp", stack.Tcp.Drops.NonZero());
        Add(drops, "udp", stack.Udp.Drops.NonZero());
        Add(drops, "fault", host.Link.Drops.NonZero());
        if (host.Link.OutboundStage is { } o)
        {
            Add(drops, "link-out", [new("loss", o.DroppedLoss), new("queue_full", o.DroppedQueueFull), new("discarded", o.Discarded)]);
        }
        if (host.Link.InboundStage is { } i)
        {
            Add(drops, "link-in", [new("loss", i.DroppedLoss), new("queue_full", i.DroppedQueueFull), new("discarded", i.Discarded)]);
        }
        return new HostSummary
        {
            Host = host.Name,
            ConnectionsOpened = tcp[TcpEvent.ActiveOpens] + tcp[TcpEvent.PassiveOpens],
            ConnectionsEstablished = tcp[TcpEvent.Established],
            ConnectionsNow = stack.Tcp.ConnectionCount,
            FastRetransmits = tcp[TcpEvent.FastRetransmits],
            RetransmissionTimeouts = tcp[TcpEvent.RetransmissionTimeouts],
            Resets = tcp[TcpEvent.ResetsSent] + tcp[TcpEvent.ResetsReceived],
            Drops = drops,
        };
    }

    private static void Add(SortedDictionary<string, long> drops, string layer, IEnumerable<KeyValuePair<string, long>> counters)
    {
        foreach ((string reason, long count) in counters)
        {
            if (count != 0)
            {
                drops[$"{layer}.{reason}"] = count;
            }
        }
    }
}
