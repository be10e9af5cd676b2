// Layer: diagnostics. The meters of the stack's layers, one per name: `dotnet-counters monitor --counters
// NetStack.Tcp,…` and MeterListener subscribe by these names. Instruments on them are process-wide and tag each
// measurement with the stack it comes from (StackTelemetry.StackTag).
using System.Diagnostics.Metrics;

namespace NetStack.Diagnostics;

/// <summary>The meters of the stack's layers (names are public contract: dashboards select them).</summary>
internal static class StackMeters
{
    /// <summary>IP: drops, events, bytes and packets each way (<c>NetStack.Network</c>).</summary>
    internal static readonly Meter Network = new("NetStack.Network", "1.0");

    /// <summary>Fragment reassembly (<c>NetStack.Network.Fragmentation</c>).</summary>
    internal static readonly Meter Fragmentation = new("NetStack.Network.Fragmentation", "1.0");

    /// <summary>TCP: drops, events, connections by state, segments, RTT, handshake and lifetime (<c>NetStack.Tcp</c>).</summary>
    internal static readonly Meter Tcp = new("NetStack.Tcp", "1.0");

    /// <summary>UDP: drops and endpoints (<c>NetStack.Udp</c>).</summary>
    internal static readonly Meter Udp = new("NetStack.Udp", "1.0");

    /// <summary>ICMP events (<c>NetStack.Icmp</c>).</summary>
    internal static readonly Meter Icmp = new("NetStack.Icmp", "1.0");
}
