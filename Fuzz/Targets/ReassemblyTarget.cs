// Fragment reassembly over a stream of fragments: content-correct fragments of a few datagrams the harness knows
// (cut on a grid, sent in any order, duplicated, overlapped), raw fragments from the input, and clock steps, with
// limits from the input. State carries across the whole stream, as it does in a stack.
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Simulation;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Shared engine of <see cref="Ipv4ReassemblyTarget"/> and <see cref="Ipv6ReassemblyTarget"/>.
/// <para>Input: a configuration byte (bits 0–1 memory limit 4 MiB / 64 KiB / 8 KiB / 2 KiB, bits 2–3 datagram limit
/// 1024 / 1 / 2 / 4, bit 4 at most 4 fragments per datagram, bits 5–6 quarantine default / off / 1 s, bit 7 expire
/// everything before disposing), then operations: <c>0x00–0x7F</c> send piece <c>(op &gt;&gt; 2)</c> of harness
/// datagram <c>op &amp; 3</c> (the datagram is defined from the next 4 bytes on first use: payload length, grid step,
/// protocol, identification); <c>0x80–0x9F</c> send the content-correct range [8·a, 8·(a+b)) of datagram
/// <c>op &amp; 3</c> (a, b from the next 2 bytes), which may overlap; <c>0xA0–0xBF</c> a raw fragment (a
/// <see cref="PacketRecord"/>); <c>0xC0–0xDF</c> advance the clock by (op &amp; 0x1F)² · 100 ms;
/// <c>0xE0–0xFF</c> <see cref="FragmentReassembler.ExpireDue()"/>.</para>
/// <para>Invariants: the memory, datagram and per-datagram limits hold after every call; every completed datagram is a
/// well-formed unfragmented packet whose length fields match its length; a completed harness datagram whose key no
/// raw fragment touched equals the original byte for byte (headers as reassembly fixes them: IPv4 total length and
/// fragment field, IPv6 payload length and the fragment header removed); a harness datagram sent on its grid only
/// (duplicates allowed) completes when its last piece arrives unless a timeout, eviction, limit or quarantine
/// intervened; the error handler only ever sees live packets of this version for the reasons it documents; after
/// expiry (when asked) nothing is held, and after <see cref="FragmentReassembler.Dispose"/> nothing is held and every
/// buffer is back in the pool.</para>
/// </summary>
public abstract class ReassemblyTarget : IFuzzTarget
{
    private const int Datagrams = 4;
    private static readonly long[] MemoryLimits = [4 * 1024 * 1024, 64 * 1024, 8 * 1024, 2 * 1024];
    private static readonly int[] DatagramLimits = [1024, 1, 2, 4];

    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-reassembly");
    private readonly Datagram?[] _datagrams = new Datagram?[Datagrams];

    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>The IP version this target fragments (4 or 6).</summary>
    protected abstract int Version { get; }

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        var reader = new PacketRecordReader(input);
        byte config = reader.NextByte();
        var options = new ReassemblyOptions
        {
            MaxBytes = MemoryLimits[config & 3],
            MaxDatagrams = DatagramLimits[(config >> 2) & 3],
            MaxFragmentsPerDatagram = (config & 0x10) != 0 ? 4 : 128,
            QuarantineTime = ((config >> 5) & 3) switch { 1 => TimeSpan.Zero, 2 => TimeSpan.FromSeconds(1), _ => null },
        };
        var clock = new ManualClock();
        var reassembler = new FragmentReassembler(clock, options, (packet, reason) =>
        {
            Check.True(packet.ReferenceCount >= 1, "the error handler sees a live packet");
            Check.True(packet.Length > 0 && packet.Head[0] >> 4 is 4 or 6, "the error handler sees an IP packet");
            Check.True(reason is ReassemblyDropReason.Timeout or ReassemblyDropReason.NotMultipleOf8 or ReassemblyDropReason.TooLong
                or ReassemblyDropReason.IncompleteHeaderChain, $"error handler reason {reason}");
        });
        Array.Clear(_datagrams);
        var random = new InputRandom(input, salt: 31);
        try
        {
            while (!reader.Rest.IsEmpty)
            {
                byte op = reader.NextByte();
                if (op < 0x80)
                {
                    Datagram d = DatagramFor(op & 3, ref reader);
                    int piece = (op >> 2) % d.Pieces.Length;
                    if (d.Sent.Count == 0)
                    {
                        d.Start(reassembler);
                    }
                    d.Sent.Add(piece);
                    bool completed = Process(reassembler, d.Pieces[piece], options);
                    if (d.Clean && d.Sent.Count == d.Pieces.Length && !Disturbed(reassembler, d))
                    {
                        Check.True(completed, $"datagram {op & 3} complete on its last grid piece ({d.Pieces.Length} pieces)");
                    }
                    if (completed || d.Sent.Count == d.Pieces.Length)
                    {
                        d.Sent.Clear();
                    }
                }
                else if (op < 0xA0)
                {
                    Datagram d = DatagramFor(op & 3, ref reader);
                    int start = reader.NextByte() * 8;
                    int length = (1 + reader.NextByte()) * 8;
                    d.Clean = false; // an overlap quarantines the key (RFC 5722 §4)
                    if (start < d.FragmentableLength)
                    {
                        Process(reassembler, Range(d.Packet, start, Math.Min(d.FragmentableLength, start + length)), options);
                    }
                }
                else if (op < 0xC0)
                {
                    if (!reader.TryRead(out PacketRecord record))
                    {
                        break;
                    }
                    TaintMatching(record.Bytes);
                    PacketBuffer raw = record.Rent(_pool, ref random);
                    Process(reassembler, raw, options);
                }
                else if (op < 0xE0)
                {
                    int steps = op & 0x1F;
                    clock.Advance(TimeSpan.FromMilliseconds(steps * steps * 100));
                }
                else
                {
                    reassembler.ExpireDue();
                    CheckLimits(reassembler, options);
                }
            }
            if ((config & 0x80) != 0)
            {
                clock.Advance(options.Ipv6Timeout + options.Ipv4Timeout);
                reassembler.ExpireDue();
                Check.Equal(0, reassembler.DatagramsInFlight, "nothing in flight after every timeout");
                Check.Equal(0, reassembler.FragmentsHeld, "no fragment held after every timeout");
                Check.Equal(0L, reassembler.BytesHeld, "no memory held after every timeout");
            }
        }
        finally
        {
            reassembler.Dispose();
        }
        Check.Equal(0, reassembler.DatagramsInFlight, "nothing in flight after Dispose");
        Check.Equal(0, reassembler.FragmentsHeld, "no fragment held after Dispose");
        Check.Equal(0L, reassembler.BytesHeld, "no memory held after Dispose");
        Check.NoLeaks(_pool);
    }

    /// <summary>A harness datagram: the unfragmented packet (IP header, then an 8-byte upper-layer header and payload).</summary>
    protected abstract byte[] BuildDatagram(int index, int payloadLength, IpProtocol protocol, uint identification, ReadOnlySpan<byte> payload);

    /// <summary>Cuts <paramref name="packet"/> at <paramref name="cuts"/> (offsets into its fragmentable part).</summary>
    protected abstract byte[][] Cut(byte[] packet, IReadOnlyList<int> cuts);

    /// <summary>The smallest first fragment (RFC 7112 §5 for IPv6: the whole header chain), a multiple of 8.</summary>
    protected abstract int MinimumFirstPiece(byte[] packet);

    /// <summary>Bytes of <paramref name="packet"/> before its fragmentable part.</summary>
    protected abstract int UnfragmentableLength(byte[] packet);

    /// <summary>The expected reassembly result for the datagram (usually the packet itself).</summary>
    protected abstract byte[] Expected(byte[] packet);

    /// <summary>Whether a raw packet could share a harness datagram's key (then the datagram is no longer checked).</summary>
    protected abstract bool MayShareKey(ReadOnlySpan<byte> raw, byte[] datagram);

    private Datagram DatagramFor(int index, ref PacketRecordReader reader)
    {
        if (_datagrams[index] is { } existing)
        {
            return existing;
        }
        int payloadLength = 8 + (reader.NextUInt16() % 4000);
        int step = 8 * (1 + (reader.NextByte() % 64));
        byte kind = reader.NextByte();
        IpProtocol protocol = (kind % 3) switch { 0 => IpProtocol.Udp, 1 => IpProtocol.Tcp, _ => (IpProtocol)253 };
        uint identification = (uint)(index << 8) | (uint)(kind >> 2);
        byte[] payload = new byte[payloadLength];
        new Random(payloadLength * 31 + index).NextBytes(payload);
        byte[] packet = BuildDatagram(index, payloadLength, protocol, identification, payload);
        int fragmentable = packet.Length - UnfragmentableLength(packet);
        var cuts = new List<int>();
        for (int cut = Math.Max(step, MinimumFirstPiece(packet)); cut < fragmentable; cut += step)
        {
            cuts.Add(cut);
        }
        var d = new Datagram(packet, Expected(packet), Cut(packet, cuts), fragmentable);
        _datagrams[index] = d;
        return d;
    }

    private PacketBuffer Range(byte[] packet, int start, int end)
    {
        int fragmentable = packet.Length - UnfragmentableLength(packet);
        var cuts = new List<int>(2);
        if (start > 0)
        {
            cuts.Add(start);
        }
        if (end < fragmentable)
        {
            cuts.Add(end);
        }
        return _pool.RentCopy(Cut(packet, cuts)[start > 0 ? 1 : 0]);
    }

    private bool Process(FragmentReassembler reassembler, byte[] fragment, ReassemblyOptions options) =>
        Process(reassembler, _pool.RentCopy(fragment), options);

    // Hands one packet over; checks what comes back. True when a harness datagram completed correctly.
    private bool Process(FragmentReassembler reassembler, PacketBuffer packet, ReassemblyOptions options)
    {
        byte[]? traced = Trace.Enabled ? packet.ToArray() : null;
        ReassemblyResult result = reassembler.Process(packet);
        CheckLimits(reassembler, options);
        if (traced is not null)
        {
            Trace.Write($"{Name}: {Convert.ToHexString(traced)} -> {result.Status} {result.DropReason}; held {reassembler.FragmentsHeld} in {reassembler.DatagramsInFlight}, drops {reassembler.Drops}");
        }
        switch (result.Status)
        {
            case ReassemblyStatus.Completed:
                Check.True(result.Packet is not null, "a completed result has a packet");
                try
                {
                    // A packet that is not a fragment comes back unchanged (link padding and all): nothing was reassembled.
                    return CheckResult(result.Packet, notAFragment: ReferenceEquals(result.Packet, packet));
                }
                finally
                {
                    result.Packet.Release();
                }
            case ReassemblyStatus.Dropped:
                Check.True(result.DropReason != ReassemblyDropReason.None && result.Packet is null, "a drop has a reason and no packet");
                return false;
            default:
                Check.True(result.Packet is null && result.DropReason == ReassemblyDropReason.None, "held: no packet, no reason");
                return false;
        }
    }

    private bool CheckResult(PacketBuffer datagram, bool notAFragment)
    {
        Check.True(datagram.ReferenceCount >= 1, "a completed datagram is alive");
        // Raw input may hold the other IP version: check a datagram by its own version.
        byte[] bytes = notAFragment ? datagram.ToArray()
            : datagram.Length > 0 && datagram.Head[0] >> 4 == 6 ? CheckCompletedIpv6(datagram) : CheckCompletedIpv4(datagram);
        foreach (Datagram? d in _datagrams)
        {
            if (d is not null && !d.Tainted && SameKey(bytes, d.Packet))
            {
                Check.BytesEqual(d.Expected, bytes, "a reassembled harness datagram equals the original");
                return true;
            }
        }
        return false;
    }

    private bool SameKey(byte[] a, byte[] b) => Version == 4
        ? a.Length >= 20 && a.AsSpan(12, 8).SequenceEqual(b.AsSpan(12, 8)) && a[9] == b[9] && a.AsSpan(4, 2).SequenceEqual(b.AsSpan(4, 2))
        : a.Length >= 40 && a.AsSpan(8, 32).SequenceEqual(b.AsSpan(8, 32));

    private void TaintMatching(ReadOnlySpan<byte> raw)
    {
        foreach (Datagram? d in _datagrams)
        {
            if (d is not null && MayShareKey(raw, d.Packet))
            {
                d.Tainted = true;
                d.Clean = false;
            }
        }
    }

    // Anything that may have thrown away held pieces since the datagram's first piece was sent.
    private static bool Disturbed(FragmentReassembler reassembler, Datagram d) => d.DropsAtStart != DisturbingDrops(reassembler);

    private static long DisturbingDrops(FragmentReassembler r) =>
        r.Drops[ReassemblyDropReason.Timeout] + r.Drops[ReassemblyDropReason.Evicted] + r.Drops[ReassemblyDropReason.MemoryLimit]
        + r.Drops[ReassemblyDropReason.TooManyFragments] + r.Drops[ReassemblyDropReason.Quarantined] + r.Drops[ReassemblyDropReason.Overlap]
        + r.Drops[ReassemblyDropReason.Inconsistent] + r.Drops[ReassemblyDropReason.SegmentLimit];

    private static void CheckLimits(FragmentReassembler r, ReassemblyOptions options)
    {
        Check.True(r.BytesHeld >= 0 && r.BytesHeld <= options.MaxBytes, $"memory held {r.BytesHeld} within {options.MaxBytes}");
        Check.True(r.DatagramsInFlight <= options.MaxDatagrams, $"datagrams {r.DatagramsInFlight} within {options.MaxDatagrams}");
        Check.True(r.FragmentsHeld >= r.DatagramsInFlight, "every datagram in flight holds a fragment");
        Check.True(r.FragmentsHeld <= r.DatagramsInFlight * options.MaxFragmentsPerDatagram, "fragments within the per-datagram limit");
        Check.True(r.QuarantinedKeys <= options.MaxQuarantinedKeys, "quarantine bounded");
    }

    /// <summary>IPv4 header checks of a completed datagram; returns its bytes.</summary>
    protected static byte[] CheckCompletedIpv4(PacketBuffer datagram)
    {
        byte[] bytes = datagram.ToArray();
        Check.True(Ipv4Header.TryCreate(bytes, out Ipv4Header ip, out WireError error), $"a completed IPv4 datagram parses ({error})");
        Check.True(!ip.IsFragment, "a completed IPv4 datagram is not a fragment");
        Check.Equal(bytes.Length, (int)ip.TotalLength, "completed IPv4 total length = length");
        Check.Equal(NetworkProtocol.IPv4, datagram.NetworkProtocol, "completed datagram labelled IPv4");
        return bytes;
    }

    /// <summary>IPv6 header checks of a completed datagram; returns its bytes.</summary>
    protected static byte[] CheckCompletedIpv6(PacketBuffer datagram)
    {
        byte[] bytes = datagram.ToArray();
        Check.True(Ipv6Header.TryCreate(bytes, out Ipv6Header ip, out WireError error), $"a completed IPv6 datagram parses ({error})");
        Check.Equal(bytes.Length, Ipv6Header.Length + ip.PayloadLength, "completed IPv6 payload length = length");
        Check.Equal(NetworkProtocol.IPv6, datagram.NetworkProtocol, "completed datagram labelled IPv6");
        if (Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out _))
        {
            Check.True(!chain.IsFragment, "a completed IPv6 datagram is not a fragment");
        }
        return bytes;
    }

    /// <summary>The transport of a harness datagram: a 20-byte TCP header (data offset 5) for TCP, else 8 zero bytes, then the payload.</summary>
    protected static byte[] Transport(IpProtocol protocol, ReadOnlySpan<byte> payload)
    {
        byte[] header = new byte[protocol == IpProtocol.Tcp ? TcpHeader.MinLength : 8];
        if (protocol == IpProtocol.Tcp)
        {
            header[12] = 0x50;
        }
        return [.. header, .. payload];
    }

    private sealed class Datagram(byte[] packet, byte[] expected, byte[][] pieces, int fragmentableLength)
    {
        public byte[] Packet { get; } = packet;

        public byte[] Expected { get; } = expected;

        public byte[][] Pieces { get; } = pieces;

        public int FragmentableLength { get; } = fragmentableLength;

        public HashSet<int> Sent { get; } = [];

        public bool Clean { get; set; } = true;

        public bool Tainted { get; set; }

        public long DropsAtStart { get; private set; }

        public void Start(FragmentReassembler reassembler) => DropsAtStart = DisturbingDrops(reassembler);
    }
}
