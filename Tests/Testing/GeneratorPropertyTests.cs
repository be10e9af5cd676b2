// Properties of the NetStack.Testing generators, and of our code on what they generate: valid packets validate and
// parse as PacketDotNet parses them; fragments reassemble to the packet; coalescable flows coalesce and split back;
// one-field mutations are handled without an exception, and a changed checksum is always caught.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Link.Channels;
using NetStack.Link.Gso;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Simulation;
using NetStack.Testing.Generators;
using NetStack.Testing.Packets;
using NetStack.Tests.Support;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;

namespace NetStack.Tests.Testing;

public class GeneratorPropertyTests
{
    private static ChecksumVerdict? Verdict(PacketReport report, string name) =>
        report.Checksums.Where(c => c.Name == name).Select(c => (ChecksumVerdict?)c.Verdict).FirstOrDefault();

    [Property(MaxTest = 300)]
    public Property Valid_packets_pass_RX_validation_and_pcap_check_with_good_checksums() => Prop.ForAll(
        Arb.From(PacketGenerators.Any()), packet =>
        {
            using var pool = new LeakCheckedPool();
            using (PacketBuffer buffer = pool.Pool.RentCopy(packet.Bytes))
            {
                RxVerdict verdict = RxChecksumValidator.Validate(buffer, out RxDropReason reason);
                Assert.True(verdict != RxVerdict.Drop, $"{packet}: {reason}");
                Assert.Equal(packet.Kind.EndsWith("icmp", StringComparison.Ordinal) ? RxVerdict.PassedToStack : RxVerdict.Validated, verdict);
            }
            var report = new PacketReport();
            PacketChecker.Check(PacketChecker.LinkRaw, packet.Bytes, packet.Bytes.Length, report);
            Assert.Null(report.Error);
            Assert.All(report.Checksums, c => Assert.Equal(ChecksumVerdict.Good, c.Verdict));
            Assert.Equal(packet.Version == 4 ? 2 : 1, report.Checksums.Count);
        });

    [Property(MaxTest = 300)]
    public Property PacketDotNet_parses_generated_packets_as_we_do() => Prop.ForAll(
        Arb.From(PacketGenerators.Any()), packet =>
        {
            byte[] bytes = packet.Bytes;
            IPPacket theirs = packet.Version == 4 ? new IPv4Packet(new ByteArraySegment(bytes)) : new IPv6Packet(new ByteArraySegment(bytes));
            ReadOnlySpan<byte> transport;
            IpProtocol protocol;
            if (packet.Version == 4)
            {
                Assert.True(Ipv4Header.TryCreate(bytes, out Ipv4Header v4, out _));
                Assert.Equal(v4.TotalLength, theirs.TotalLength);
                Assert.Equal(v4.TimeToLive, theirs.TimeToLive);
                Assert.True(((IPv4Packet)theirs).ValidIPChecksum);
                transport = v4.Payload;
                protocol = v4.Protocol;
            }
            else
            {
                Assert.True(Ipv6Header.TryCreate(bytes, out Ipv6Header v6, out _));
                Assert.True(Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _));
                Assert.Equal(v6.HopLimit, theirs.HopLimit);
                Assert.Equal(v6.PayloadLength, theirs.PayloadLength);
                transport = v6.Payload[chain.UpperLayerOffset..];
                protocol = chain.UpperLayerProtocol;
                // PacketDotNet 1.4.8 reads every extension header with the first one's length (see
                // Ipv6DifferentialTests): its transport is only comparable when all have the same length.
                var lengths = new HashSet<int>();
                for (var walker = new Ipv6ExtensionWalker(v6); walker.MoveNext();)
                {
                    lengths.Add(walker.Current.Bytes.Length);
                }
                if (lengths.Count > 1)
                {
                    return;
                }
            }
            switch (protocol)
            {
                case IpProtocol.Tcp:
                    Assert.True(TcpHeader.TryCreate(transport, out TcpHeader tcp, out _));
                    var pdnTcp = Assert.IsType<TcpPacket>(theirs.PayloadPacket);
                    Assert.Equal(tcp.SourcePort, pdnTcp.SourcePort);
                    Assert.Equal(tcp.SequenceNumber, pdnTcp.SequenceNumber);
                    Assert.Equal(tcp.AcknowledgmentNumber, pdnTcp.AcknowledgmentNumber);
                    Assert.Equal(tcp.WindowSize, pdnTcp.WindowSize);
                    Assert.Equal(tcp.Payload.Length, pdnTcp.PayloadData?.Length ?? 0);
                    Assert.True(pdnTcp.ValidTcpChecksum);
                    break;
                case IpProtocol.Udp:
                    Assert.True(UdpHeader.TryCreate(transport, out UdpHeader udp, out _));
                    var pdnUdp = Assert.IsType<UdpPacket>(theirs.PayloadPacket);
                    Assert.Equal(udp.DestinationPort, pdnUdp.DestinationPort);
                    Assert.Equal(udp.Length, pdnUdp.Length);
                    Assert.True(pdnUdp.ValidUdpChecksum);
                    break;
                default:
                    Assert.True(protocol is IpProtocol.Icmp or IpProtocol.IcmpV6);
                    Assert.NotNull(theirs.PayloadPacket);
                    break;
            }
        });

    [Property(MaxTest = 200)]
    public Property Generated_fragments_reassemble_to_the_original_packet() => Prop.ForAll(
        Arb.From(FragmentGenerators.Fragmented()), fragmented =>
        {
            using var pool = new LeakCheckedPool();
            using var reassembler = new FragmentReassembler(new ManualClock());
            var completed = new List<byte[]>();
            foreach (byte[] fragment in fragmented.Fragments)
            {
                ReassemblyResult result = reassembler.Process(pool.Pool.RentCopy(fragment));
                Assert.True(result.Status != ReassemblyStatus.Dropped || result.DropReason == ReassemblyDropReason.Duplicate, $"{fragmented}: {result.DropReason}");
                if (result.Status == ReassemblyStatus.Completed)
                {
                    completed.Add(result.Packet!.ToArray());
                    result.Packet.Release();
                }
            }
            // One piece is not a fragment (IPv4) or an atomic fragment (IPv6, RFC 6946): each copy completes alone,
            // without its fragment header. Otherwise one datagram completes (a late duplicate starts a new one).
            Assert.Equal(fragmented.Pieces == 1 ? fragmented.Fragments.Count : 1, completed.Count);
            Assert.All(completed, datagram => Assert.Equal(fragmented.Original.Bytes, datagram));
            Assert.True(reassembler.FragmentsHeld <= 1, "at most a duplicate that arrived after completion is held");
        });

    [Property(MaxTest = 100)]
    public Property Coalescable_flows_coalesce_into_one_packet_that_splits_back() => Prop.ForAll(
        Arb.From(TcpFlowGenerators.CoalescableFlow()), flow =>
        {
            using var pool = new LeakCheckedPool();
            var outputs = new List<PacketBuffer>();
            var gro = new TcpGro(new GroOptions(), outputs.Add);
            foreach (SegmentSpec segment in flow)
            {
                PacketBuffer packet = pool.Pool.RentCopy(segment.Build());
                Assert.Equal(RxVerdict.Validated, RxChecksumValidator.Validate(packet, out _));
                gro.Enqueue(packet);
            }
            gro.Flush();
            PacketBuffer super = Assert.Single(outputs);
            try
            {
                Assert.Equal(flow.Count, super.SegmentsRepresented);
                var split = new PacketBuffer[flow.Count];
                Assert.True(GsoSegmenter.TrySplit(super, pool.Pool, split, out int count, out _));
                Assert.Equal(flow.Count, count);
                for (int i = 0; i < count; i++)
                {
                    Assert.Equal(flow[i].Build(), split[i].ToArray());
                    split[i].Release();
                }
            }
            finally
            {
                super.Release();
            }
        });

    [Property(MaxTest = 500)]
    public Property Near_valid_packets_never_throw_and_a_changed_checksum_is_caught() => Prop.ForAll(
        Arb.From(MutationGenerators.NearValid()), mutated =>
        {
            using var pool = new LeakCheckedPool();
            RxVerdict verdict;
            RxDropReason reason;
            using (PacketBuffer buffer = pool.Pool.RentCopy(mutated.Bytes))
            {
                verdict = RxChecksumValidator.Validate(buffer, out reason);
            }
            var report = new PacketReport();
            PacketChecker.Check(PacketChecker.LinkRaw, mutated.Bytes, mutated.Bytes.Length, report);
            if (verdict == RxVerdict.Validated)
            {
                Assert.True(Verdict(report, "tcp") is ChecksumVerdict.Good || Verdict(report, "udp") is ChecksumVerdict.Good or ChecksumVerdict.None, mutated.ToString());
            }
            if (reason is RxDropReason.TcpBadChecksum)
            {
                Assert.Equal(ChecksumVerdict.Bad, Verdict(report, "tcp"));
            }
            // A transport checksum set to another value never verifies, unless it is the other encoding of zero.
            if (mutated.Field is "tcp.checksum" or "udp.checksum" && !mutated.Unchanged && verdict == RxVerdict.Validated)
            {
                int offset = mutated.Bytes.AsSpan().IndexOfAnyExcept(mutated.Original.Bytes);
                ushort before = (ushort)((mutated.Original.Bytes[offset & ~1] << 8) | mutated.Original.Bytes[(offset & ~1) + 1]);
                ushort after = (ushort)((mutated.Bytes[offset & ~1] << 8) | mutated.Bytes[(offset & ~1) + 1]);
                Assert.True((before, after) is (0, 0xFFFF) or (0xFFFF, 0) || mutated.Field == "udp.checksum" && after == 0, mutated.ToString());
            }
            // A checksum fixed after the change makes an otherwise unchanged header chain validate again.
            if (mutated.ChecksumsFixed && mutated.Field is "tcp.sequence" or "tcp.acknowledgment" or "tcp.window" or "udp.source_port" or "ipv4.ttl" or "ipv6.flow_label")
            {
                Assert.True(verdict != RxVerdict.Drop, $"{mutated}: {reason}");
            }
        });

    [Property(MaxTest = 200)]
    public Property Mutation_fields_lie_inside_the_packet_and_Set_changes_only_them() => Prop.ForAll(
        Arb.From(from packet in PacketGenerators.Any()
                 from value in Gen.Choose(0, 0xFFFF)
                 select (packet, value)),
        t =>
        {
            (GeneratedPacket packet, int value) = t;
            PacketField[] fields = MutationGenerators.Fields(packet.Bytes);
            Assert.Contains(fields, f => f.Name == "ip.version");
            foreach (PacketField field in fields)
            {
                byte[] changed = MutationGenerators.Set(packet.Bytes, field, value);
                int width = Math.Max(1, field.Width);
                for (int i = 0; i < changed.Length; i++)
                {
                    if (i < field.Offset || i >= field.Offset + width)
                    {
                        Assert.Equal(packet.Bytes[i], changed[i]);
                    }
                }
            }
        });
}
