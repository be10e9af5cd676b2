// One SACK block (RFC 2018 §3): the left edge and the right edge (one past the last byte) of a received range.
namespace NetStack.Wire;

/// <summary>A SACK block: <paramref name="Left"/> is the first sequence number of a received block,
/// <paramref name="Right"/> the sequence number just after it (RFC 2018 §3).</summary>
/// <param name="Left">Left edge of the block.</param>
/// <param name="Right">Right edge of the block (exclusive).</param>
public readonly record struct TcpSackBlock(uint Left, uint Right);
