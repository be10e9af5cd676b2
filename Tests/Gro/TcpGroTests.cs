// Unit tests with exact packets for every ARCHITECTURE.md §4 merge / no-merge rule and every flush reason, IPv4 and IPv6.
using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

public class TcpGroTests
{
    private static SegmentSpec Base(bool v6, int payload = 1000) => new() { V6 = v6, Payload = SegmentSpec.Data(payload, 1) };

    /// <summary>The exact bytes GRO must produce: the first segment's headers with the new lengths, OR-ed PSH/FIN and the partial checksum.</summary>
    internal static byte[] ExpectedSuperSegment(SegmentSpec first, TcpFlags lastFlags, params SegmentSpec[] rest)
    {
        SegmentSpec merged = first with
        {
            Payload = [.. first.Payload, .. rest.SelectMany(s => s.Payload)],
            Flags = first.Flags | lastFlags,
        };
        byte[] bytes = merged.Build();
        int tcpLength = bytes.Length - merged.TcpOffset;
        uint pseudo = merged.V6
            ? InternetChecksum.PseudoHeaderSumV6(merged.Source6, merged.Destination6, (byte)IpProtocol.Tcp, tcpLength)
            : InternetChecksum.PseudoHeaderSumV4(merged.Source, merged.Destination, (byte)IpProtocol.Tcp, tcpLength);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(merged.TcpOffset + 16), InternetChecksum.Fold(pseudo));
        return bytes;
    }

    internal static List<byte[]> Split(PacketBufferPool pool, PacketBuffer packet)
    {
        var output = new PacketBuffer[Math.Max(1, GsoSegmenter.SegmentCount(packet))];
        Assert.True(GsoSegmenter.TrySplit(packet, pool, output, out int count, out GsoError error), error.ToString());
        var result = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            result.Add(output[i].ToArray());
            output[i].Release();
        }
        return result;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ContiguousFullSegments_MergeIntoOneSuperSegment(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6);
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2));
        SegmentSpec c = b.Next(SegmentSpec.Data(1000, 3));
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(c);
        Assert.Equal(0, h.Pending);
        Assert.Equal(1, h.Gro.HeldFlows);
        var output = Assert.Single(h.FlushAndTake());

        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b, c), output.Bytes);
        Assert.Equal(3, output.Segments);
        Assert.True(output.Validated);
        Assert.Equal(3, output.Fragments); // payload chained by reference, not copied
        Assert.Equal(new GsoOptions
        {
            Type = v6 ? GsoType.TcpV6 : GsoType.TcpV4,
            NeedsChecksum = true,
            HeaderLength = (ushort)a.HeaderLength,
            MaxSegmentSize = 1000,
            ChecksumStart = (ushort)a.TcpOffset,
            ChecksumOffset = 16,
        }, output.Gso);
        if (!v6)
        {
            Assert.True(Ipv4Header.VerifyChecksum(output.Bytes.AsSpan(0, 20)));
        }
        Assert.Equal(3, h.Gro.Events[GroEvent.PacketsIn]);
        Assert.Equal(2, h.Gro.Events[GroEvent.PacketsCoalesced]);
        Assert.Equal(1, h.Gro.Events[GroEvent.SuperSegmentsOut]);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.BatchEnd]);
        Assert.Equal(1, h.Gro.Flushes.Total);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SuperSegment_GsoSplit_RestoresTheOriginals(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6, 999) with { Flags = TcpFlags.Ack | TcpFlags.Cwr, Extensions = v6 ? [SegmentSpec.DestinationOptions(7)] : [] };
        SegmentSpec b = a.Next(SegmentSpec.Data(999, 2)) with { Flags = TcpFlags.Ack };
        SegmentSpec c = b.Next(SegmentSpec.Data(10, 3)) with { Flags = TcpFlags.Ack | TcpFlags.Psh | TcpFlags.Fin };
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(c);
        List<PacketBuffer> packets = h.TakePackets();
        PacketBuffer super = Assert.Single(packets);
        Assert.Equal(3, super.SegmentsRepresented);
        List<byte[]> segments = Split(h.Pool, super);
        super.Release();
        Assert.Equal([a.Build(), b.Build(), c.Build()], segments);
        h.Gro.Flush(); // statistics are published at the batch end
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.Push] + h.Gro.Flushes[GroFlushReason.Fin]);
    }

    [Theory]
    [MemberData(nameof(Mutations.Cases), MemberType = typeof(Mutations))]
    public void ForbiddenDifference_IsNotMerged(string name, bool v6)
    {
        Mutation mutation = Mutations.Named(name);
        using var h = new GroHarness();
        SegmentSpec first = Base(v6) with { Extensions = v6 ? [SegmentSpec.DestinationOptions()] : [] };
        SegmentSpec second = mutation.Apply(first, first.Next(SegmentSpec.Data(1000, 2)));
        h.Enqueue(first);
        h.Enqueue(second);
        List<Delivered> output = h.FlushAndTake();

        Assert.Equal(2, output.Count);
        Assert.All(output, o => Assert.False(o.IsCoalesced));
        Assert.All(output, o => Assert.Equal(1, o.Segments));
        Assert.Equal(first.Build(), output[0].Bytes); // per-flow order: the held segment goes first
        Assert.Equal(second.Build(), output[1].Bytes);
        Assert.Equal(0, h.Gro.Events[GroEvent.PacketsCoalesced]);
        if (mutation.Reason is { } reason)
        {
            Assert.Equal(1, h.Gro.Flushes[reason]);
        }
        else
        {
            Assert.Equal(2, h.Gro.Flushes[GroFlushReason.BatchEnd]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UnmutatedPair_IsMerged(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec first = Base(v6) with { Extensions = v6 ? [SegmentSpec.DestinationOptions()] : [] };
        SegmentSpec second = first.Next(SegmentSpec.Data(1000, 2));
        h.Enqueue(first);
        h.Enqueue(second);
        var output = Assert.Single(h.FlushAndTake());
        Assert.Equal(ExpectedSuperSegment(first, TcpFlags.None, second), output.Bytes);
    }

    [Theory]
    [InlineData(false, TcpFlags.Psh, GroFlushReason.Push)]
    [InlineData(true, TcpFlags.Psh, GroFlushReason.Push)]
    [InlineData(false, TcpFlags.Fin, GroFlushReason.Fin)]
    [InlineData(true, TcpFlags.Fin, GroFlushReason.Fin)]
    [InlineData(false, TcpFlags.Psh | TcpFlags.Fin, GroFlushReason.Push)]
    public void PushOrFinOnMergeableSegment_IsMergedThenFlushed(bool v6, TcpFlags flag, GroFlushReason reason)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6);
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2)) with { Flags = TcpFlags.Ack | flag };
        h.Enqueue(a);
        h.Enqueue(b);
        var output = Assert.Single(h.Take()); // delivered without waiting for the batch end
        Assert.Equal(ExpectedSuperSegment(a, flag, b), output.Bytes);
        Assert.Equal(0, h.Gro.HeldFlows);
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.Flushes[reason]);
        Assert.Equal(1, h.Gro.Flushes.Total);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PushOnFirstSegment_IsDeliveredAtOnce(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6) with { Flags = TcpFlags.Ack | TcpFlags.Psh };
        h.Enqueue(a);
        Assert.Equal(0, h.Gro.HeldFlows);
        var output = Assert.Single(h.Take());
        Assert.Equal(a.Build(), output.Bytes);
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.Push]);
        Assert.Equal(1, h.Gro.Events[GroEvent.SinglesOut]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ShortSegment_IsMergedThenFlushed_NothingFollowsIt(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6);
        SegmentSpec b = a.Next(SegmentSpec.Data(500, 2));
        SegmentSpec c = b.Next(SegmentSpec.Data(1000, 3));
        h.Enqueue(a);
        h.Enqueue(b);
        Assert.Equal(1, h.Pending);
        h.Enqueue(c);
        List<Delivered> output = h.FlushAndTake();
        Assert.Equal(2, output.Count);
        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b), output[0].Bytes);
        Assert.Equal(c.Build(), output[1].Bytes);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.ShortSegment]);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.BatchEnd]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LargerSegment_FlushesAndStartsANewFlow(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6, 500);
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2));
        SegmentSpec c = b.Next(SegmentSpec.Data(1000, 3));
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(c);
        List<Delivered> output = h.FlushAndTake();
        Assert.Equal(2, output.Count);
        Assert.Equal(a.Build(), output[0].Bytes);
        Assert.Equal(ExpectedSuperSegment(b, TcpFlags.None, c), output[1].Bytes);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.LargerSegment]);
    }

    [Theory]
    [InlineData(false, TcpFlags.Ack | TcpFlags.Syn, GroFlushReason.Syn)]
    [InlineData(true, TcpFlags.Syn, GroFlushReason.Syn)]
    [InlineData(false, TcpFlags.Ack | TcpFlags.Rst, GroFlushReason.Rst)]
    [InlineData(true, TcpFlags.Rst, GroFlushReason.Rst)]
    [InlineData(false, TcpFlags.Ack | TcpFlags.Urg, GroFlushReason.Urg)]
    public void ControlSegment_FlushesItsFlowAndPassesThrough(bool v6, TcpFlags flags, GroFlushReason reason)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6);
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2));
        SegmentSpec control = b.Next([]) with { Flags = flags, Sequence = b.Sequence + 1000 };
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(control);
        List<Delivered> output = h.Take(); // both delivered at once, held flow first
        Assert.Equal(2, output.Count);
        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b), output[0].Bytes);
        Assert.Equal(control.Build(), output[1].Bytes);
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.Flushes[reason]);
        Assert.Equal(1, h.Gro.PassThroughs[GroPassThroughReason.ControlFlag]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PureAck_FlushesItsFlowAndPassesThrough(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6);
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2));
        SegmentSpec ack = b.Next([]) with { Sequence = b.Sequence + 1000 };
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(ack);
        List<Delivered> output = h.Take();
        Assert.Equal(2, output.Count);
        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b), output[0].Bytes);
        Assert.Equal(ack.Build(), output[1].Bytes);
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.NoPayload]);
        Assert.Equal(1, h.Gro.PassThroughs[GroPassThroughReason.NoPayload]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FlowIsFlushedWhenTheNextFullSegmentWouldPass65535(bool v6)
    {
        using var h = new GroHarness();
        var specs = new List<SegmentSpec> { Base(v6, 1448) };
        for (int i = 1; i < 60; i++)
        {
            specs.Add(specs[^1].Next(SegmentSpec.Data(1448, i + 1)));
        }
        List<PacketBuffer> outputs = [];
        foreach (SegmentSpec s in specs)
        {
            h.Enqueue(s);
        }
        h.Gro.Flush();
        outputs.AddRange(h.TakePackets());
        int header = specs[0].HeaderLength;
        int perPacket = (65535 - header) / 1448;
        Assert.Equal(2, outputs.Count);
        Assert.Equal(perPacket, outputs[0].SegmentsRepresented);
        Assert.Equal(header + (perPacket * 1448), outputs[0].Length);
        Assert.Equal(60 - perPacket, outputs[1].SegmentsRepresented);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.Full]);
        var all = outputs.SelectMany(p => Split(h.Pool, p)).ToList();
        Assert.Equal(specs.Select(s => s.Build()), all);
        outputs.ForEach(p => p.Release());
    }

    [Fact]
    public void PieceListLimit_FlushesTheFlow()
    {
        using var h = new GroHarness();
        var specs = new List<SegmentSpec> { Base(false, 8) };
        for (int i = 1; i < 200; i++)
        {
            specs.Add(specs[^1].Next(SegmentSpec.Data(8, i + 1)));
        }
        specs.ForEach(h.Enqueue);
        h.Gro.Flush();
        List<PacketBuffer> outputs = h.TakePackets();
        Assert.Equal(PacketBuffer.MaxPayloadSegments + 1, outputs[0].SegmentsRepresented);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.SegmentLimit]);
        Assert.Equal(specs.Select(s => s.Build()), outputs.SelectMany(p => Split(h.Pool, p)));
        outputs.ForEach(p => p.Release());
    }

    [Fact]
    public void FullTable_EvictsAndFlushesTheOldestFlow()
    {
        using var h = new GroHarness(new GroOptions { MaxFlows = 2 });
        SegmentSpec a = Base(false) with { SourcePort = 1 };
        SegmentSpec b = Base(true) with { SourcePort = 2 };
        SegmentSpec c = Base(false) with { SourcePort = 3 };
        h.Enqueue(a);
        h.Enqueue(b);
        Assert.Equal(2, h.Gro.HeldFlows);
        h.Enqueue(c);
        var evicted = Assert.Single(h.Take());
        Assert.Equal(a.Build(), evicted.Bytes);
        h.Enqueue(b.Next(SegmentSpec.Data(1000, 5))); // b is still held and merges
        List<Delivered> rest = h.FlushAndTake();
        Assert.Equal(2, rest.Count);
        Assert.Equal(2, rest[0].Segments);
        Assert.Equal(c.Build(), rest[1].Bytes);
        Assert.Equal(1, h.Gro.Events[GroEvent.Evictions]);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.Eviction]);
    }

    [Fact]
    public void BatchEnd_DeliversFlowsOldestFirst()
    {
        using var h = new GroHarness();
        SegmentSpec[] flows = [.. Enumerable.Range(0, 5).Select(i => Base(i % 2 == 0) with { SourcePort = (ushort)(100 + i) })];
        foreach (SegmentSpec f in flows)
        {
            h.Enqueue(f);
        }
        foreach (SegmentSpec f in flows.Reverse())
        {
            h.Enqueue(f.Next(SegmentSpec.Data(1000, 9)));
        }
        List<Delivered> output = h.FlushAndTake();
        Assert.Equal(flows.Select(f => ExpectedSuperSegment(f, TcpFlags.None, f.Next(SegmentSpec.Data(1000, 9)))), output.Select(o => o.Bytes));
    }

    [Fact]
    public void UdpPassesThrough_WithoutFlushingTcp()
    {
        using var h = new GroHarness();
        h.Enqueue(Base(false));
        byte[] udp = new SegmentSpec().Build();
        udp[9] = (byte)IpProtocol.Udp; // not TCP: never parsed further
        h.Enqueue(SegmentSpecRenting.RentBytes(h.Pool, udp, -1, validate: false));
        var passed = Assert.Single(h.Take());
        Assert.Equal(udp, passed.Bytes);
        Assert.Equal(1, h.Gro.HeldFlows);
        Assert.Single(h.FlushAndTake());
        Assert.Equal(1, h.Gro.PassThroughs[GroPassThroughReason.NotTcp]);
    }

    [Fact]
    public void Ipv6Fragment_FlushesFlowsBetweenItsAddresses()
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(true);
        SegmentSpec other = Base(true) with { Destination6 = [0xFD, .. new byte[14], 7] };
        h.Enqueue(a);
        h.Enqueue(other);
        SegmentSpec fragment = a.Next(SegmentSpec.Data(1000, 2)) with
        {
            Extensions = [new ExtensionSpec(IpProtocol.Ipv6Fragment, [0, 0, 0, 1, 0, 0, 0, 9])], // offset 0, MF
        };
        h.Enqueue(fragment);
        List<Delivered> output = h.Take();
        Assert.Equal(2, output.Count);
        Assert.Equal(a.Build(), output[0].Bytes);
        Assert.Equal(fragment.Build(), output[1].Bytes);
        Assert.Equal(1, h.Gro.HeldFlows); // the flow to another destination is still held
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.PassThroughs[GroPassThroughReason.Fragment]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PayloadInPayloadSegments_IsChainedByReference(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6, 1200) with { HeadPayload = 100 };
        SegmentSpec b = a.Next(SegmentSpec.Data(1200, 2)) with { HeadPayload = 0 };
        SegmentSpec c = b.Next(SegmentSpec.Data(1200, 3)) with { HeadPayload = 1199 };
        h.Enqueue(a);
        h.Enqueue(b);
        h.Enqueue(c);
        var output = Assert.Single(h.FlushAndTake());
        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b, c), output.Bytes);
        Assert.Equal(5, output.Fragments); // head, a's tail, b's payload, c's head part, c's last byte
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CwrOnTheHeldSegment_Merges_AndSplitPutsItOnTheFirstOnly(bool v6)
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(v6) with { Flags = TcpFlags.Ack | TcpFlags.Cwr | TcpFlags.Ece };
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2)) with { Flags = TcpFlags.Ack | TcpFlags.Ece };
        h.Enqueue(a);
        h.Enqueue(b);
        h.Gro.Flush();
        PacketBuffer super = Assert.Single(h.TakePackets());
        Assert.Equal(2, super.SegmentsRepresented);
        Assert.Equal([a.Build(), b.Build()], Split(h.Pool, super));
        super.Release();
    }

    [Fact]
    public void Ipv4IdentificationAndSequence_WrapAround()
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(false) with { Identification = 65535, Sequence = uint.MaxValue - 500 };
        SegmentSpec b = a.Next(SegmentSpec.Data(1000, 2));
        Assert.Equal(0, b.Identification);
        h.Enqueue(a);
        h.Enqueue(b);
        h.Gro.Flush();
        PacketBuffer super = Assert.Single(h.TakePackets());
        Assert.Equal([a.Build(), b.Build()], Split(h.Pool, super));
        super.Release();
    }

    [Fact]
    public void LinkPadding_IsNotPayload()
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(false, 10);
        SegmentSpec b = a.Next(SegmentSpec.Data(10, 2));
        foreach (SegmentSpec s in new[] { a, b })
        {
            PacketBuffer p = SegmentSpecRenting.RentBytes(h.Pool, [.. s.Build(), 0, 0, 0, 0, 0, 0], -1, validate: false);
            p.RxChecksumValidated = true; // as if the device said so: GRO itself must cut the padding
            h.Enqueue(p);
        }
        var output = Assert.Single(h.FlushAndTake());
        Assert.Equal(ExpectedSuperSegment(a, TcpFlags.None, b), output.Bytes);
    }

    [Fact]
    public void AlreadyCoalescedPacket_PassesThroughAfterItsFlow()
    {
        using var h = new GroHarness();
        SegmentSpec a = Base(false);
        h.Enqueue(a);
        PacketBuffer gso = a.Next(SegmentSpec.Data(1000, 2)).Rent(h.Pool);
        gso.Gso = new GsoOptions { Type = GsoType.TcpV4, MaxSegmentSize = 500 };
        h.Enqueue(gso);
        List<Delivered> output = h.Take();
        Assert.Equal(2, output.Count);
        Assert.Equal(a.Build(), output[0].Bytes);
        h.Gro.Flush();
        Assert.Equal(1, h.Gro.PassThroughs[GroPassThroughReason.AlreadyCoalesced]);
        Assert.Equal(1, h.Gro.Flushes[GroFlushReason.PassThrough]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MalformedPackets_PassThroughUnchanged(bool v6)
    {
        using var h = new GroHarness();
        byte[] good = Base(v6).Build();
        byte[][] bad =
        [
            [],
            [0x45],
            [0x75, 0, 0, 20],
            good[..(v6 ? 39 : 19)],
            good[..(v6 ? 50 : 30)],        // TCP header cut off (length fields say more)
        ];
        foreach (byte[] bytes in bad)
        {
            PacketBuffer p = bytes.Length == 0 ? h.Pool.Pool.Rent(0) : SegmentSpecRenting.RentBytes(h.Pool, bytes, -1, validate: false);
            p.RxChecksumValidated = true;
            h.Enqueue(p);
        }
        List<Delivered> output = h.FlushAndTake();
        Assert.Equal(bad, output.Select(o => o.Bytes));
        Assert.Equal(bad.Length, h.Gro.Events[GroEvent.PassThrough]);
    }

    [Fact]
    public void Statistics_AreExportedByTheNetStackGroMeter()
    {
        string name = "gro-" + Guid.NewGuid().ToString("N");
        using var h = new GroHarness(new GroOptions { Name = name });
        SegmentSpec a = Base(false);
        h.Enqueue(a);
        h.Enqueue(a.Next(SegmentSpec.Data(1000, 2)));
        h.FlushAndTake();

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "NetStack.Gro")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? gro = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "gro")
                {
                    gro = tag.Value as string;
                }
                else if (tag.Key == "reason")
                {
                    reason = tag.Value as string;
                }
            }
            if (gro == name)
            {
                seen[instrument.Name + "/" + reason] = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(2, seen["netstack.gro.events/PacketsIn"]);
        Assert.Equal(1, seen["netstack.gro.events/PacketsCoalesced"]);
        Assert.Equal(1, seen["netstack.gro.flushes/BatchEnd"]);
        Assert.Equal(0, seen["netstack.gro.pass_through/NotTcp"]);
    }
}
