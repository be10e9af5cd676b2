// The TCP timestamps option pair (RFC 7323 §3.2).
namespace NetStack.Wire;

/// <summary>The values of a timestamps option (RFC 7323 §3.2).</summary>
/// <param name="Value">TSval: the sender's timestamp clock.</param>
/// <param name="Echo">TSecr: the TSval echoed back (meaningful with ACK).</param>
public readonly record struct TcpTimestamps(uint Value, uint Echo);
