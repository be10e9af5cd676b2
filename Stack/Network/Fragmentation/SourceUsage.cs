namespace NetStack.Network.Fragmentation;

/// <summary>
/// What one source address holds in reassembly: memory charged, datagrams, and its datagrams in arrival order
/// (a list threaded through <see cref="ReassemblyContext.SourceOlder"/>/<see cref="ReassemblyContext.SourceNewer"/>),
/// so the per-source quota and eviction by source are O(1). Pooled by <see cref="FragmentReassembler"/>.
/// </summary>
internal sealed class SourceUsage
{
    internal SourceKey Key;
    internal long Bytes;
    internal int Datagrams;
    internal ReassemblyContext? Oldest;
    internal ReassemblyContext? Newest;

    internal void Add(ReassemblyContext ctx)
    {
        ctx.Source = this;
        ctx.SourceOlder = Newest;
        ctx.SourceNewer = null;
        if (Newest is { } tail)
        {
            tail.SourceNewer = ctx;
        }
        else
        {
            Oldest = ctx;
        }
        Newest = ctx;
        Datagrams++;
    }

    internal void Remove(ReassemblyContext ctx)
    {
        if (ctx.SourceOlder is { } older)
        {
            older.SourceNewer = ctx.SourceNewer;
        }
        else
        {
            Oldest = ctx.SourceNewer;
        }
        if (ctx.SourceNewer is { } newer)
        {
            newer.SourceOlder = ctx.SourceOlder;
        }
        else
        {
            Newest = ctx.SourceOlder;
        }
        ctx.SourceOlder = ctx.SourceNewer = null;
        ctx.Source = null;
        Datagrams--;
        Bytes -= ctx.Bytes;
    }

    /// <summary>The oldest datagram of this source other than <paramref name="except"/>, or null.</summary>
    internal ReassemblyContext? OldestExcept(ReassemblyContext? except) =>
        Oldest is { } oldest && oldest == except ? oldest.SourceNewer : Oldest;
}

/// <summary>A source address of either version (IPv4 in the low 32 bits), the unit of the per-source quota.</summary>
internal readonly record struct SourceKey(UInt128 Address, byte Version);
