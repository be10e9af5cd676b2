// A TcpGro over a leak-checked pool that records what it delivers.
using NetStack.Buffers;
using NetStack.Gro;
using NetStack.Testing.Packets;
using NetStack.Tests.Support;

namespace NetStack.Tests.Gro;

/// <summary>One delivered packet, flattened: its bytes and metadata, read before it was released.</summary>
public sealed record Delivered(byte[] Bytes, GsoOptions Gso, int Segments, bool Validated, int Fragments)
{
    public bool IsCoalesced => Gso.IsGso;
}

/// <summary>
/// A <see cref="TcpGro"/> whose deliveries are kept as packets (for GSO split) until <see cref="Take"/>; disposing
/// flushes, releases everything and asserts that no buffer leaked.
/// </summary>
public sealed class GroHarness : IDisposable
{
    private readonly List<PacketBuffer> _out = [];

    public GroHarness(GroOptions? options = null)
    {
        Pool = new LeakCheckedPool();
        Gro = new TcpGro(options ?? new GroOptions(), _out.Add);
    }

    public LeakCheckedPool Pool { get; }

    public TcpGro Gro { get; }

    /// <summary>Packets delivered and not yet taken.</summary>
    public int Pending => _out.Count;

    public void Enqueue(SegmentSpec spec) => Gro.Enqueue(spec.Rent(Pool));

    public void Enqueue(PacketBuffer packet) => Gro.Enqueue(packet);

    /// <summary>Flushes and returns everything delivered since the last call, releasing the packets.</summary>
    public List<Delivered> FlushAndTake()
    {
        Gro.Flush();
        return Take();
    }

    /// <summary>Returns everything delivered so far (without flushing), releasing the packets.</summary>
    public List<Delivered> Take()
    {
        var result = _out.Select(p => new Delivered(p.ToArray(), p.Gso, p.SegmentsRepresented, p.RxChecksumValidated, p.FragmentCount)).ToList();
        ReleaseAll();
        return result;
    }

    /// <summary>Hands the delivered packets to the caller (who must release them).</summary>
    public List<PacketBuffer> TakePackets()
    {
        var result = _out.ToList();
        _out.Clear();
        return result;
    }

    private void ReleaseAll()
    {
        foreach (PacketBuffer p in _out)
        {
            p.Release();
        }
        _out.Clear();
    }

    public void Dispose()
    {
        Gro.Flush();
        ReleaseAll();
        Pool.Dispose();
    }
}
