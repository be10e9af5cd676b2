// PcapWriter and the pcap tap: exact records (bytes, lengths, timestamps), the background writer under load, drops
// counted, snapshot lengths, and tshark's view of our captures.
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Link.Simulation;
using NetStack.Testing.Packets;
using NetStack.Tests.Gro;
using NetStack.Tests.LinkEndpoint.Simulation;
using NetStack.Tests.Support;
using NetStack.Wire;
using PacketDotNet;
using Xunit.Abstractions;

namespace NetStack.Tests.LinkEndpoint.Capture;

public sealed class PcapWriterTests(ITestOutputHelper output) : IDisposable
{
    private static readonly DateTimeOffset Start = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private readonly List<string> _files = [];

    public void Dispose()
    {
        foreach (string f in _files)
        {
            File.Delete(f);
        }
    }

    private string NewFile()
    {
        string path = CaptureFiles.TempPath();
        _files.Add(path);
        return path;
    }

    /// <summary>IPv4/IPv6 × TCP/UDP, small and large, with their fragment cuts.</summary>
    private static List<(byte[] Bytes, int[] Cuts)> Mix() =>
    [
        (TestPackets.Ipv4Tcp(1000, 0), []),
        (TestPackets.Ipv4Tcp(2000, 1400), [40, 540, 1000]),
        (TestPackets.Ipv4Udp(33), [28]),
        (TestPackets.Ipv6Tcp(3000, 1200), [60]),
        (TestPackets.Ipv6Udp(512), [48, 100, 101, 300]),
        (TestPackets.Ipv4Tcp(4000, 8000), [40, 4000]), // a GSO-sized super-segment
    ];

    private static void WriteMix(PcapWriter writer, PacketBufferPool pool, FakeTimeProvider time)
    {
        foreach (var (bytes, cuts) in Mix())
        {
            using PacketBuffer p = TestPackets.Fragmented(pool, bytes, cuts);
            Assert.Equal(cuts.Length + 1, p.FragmentCount);
            Assert.True(writer.Write(p));
            time.Advance(TimeSpan.FromMilliseconds(1.5));
        }
    }

    private static void AssertMixReadBack(string path)
    {
        var (linkType, records) = CaptureFiles.Read(path);
        Assert.Equal(LinkLayers.RawLegacy, linkType); // DLT_RAW (12), as libpcap reports it
        Assert.Equal(101u, CaptureFiles.FileHeaderLinkType(path)); // LINKTYPE_RAW, what libpcap stores for DLT 12
        var expected = Mix();
        Assert.Equal(expected.Count, records.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Bytes, records[i].Data);
            Assert.Equal((uint)expected[i].Bytes.Length, records[i].PacketLength);
            Assert.Equal(Start.UtcDateTime.AddMilliseconds(1.5 * i), records[i].Timestamp);
        }
    }

    [Fact]
    public void SynchronousWriter_RoundTripsFragmentedPackets_WithFakeClockTimestamps()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = time }))
        {
            WriteMix(writer, pool, time);
            Assert.Equal(6, writer.Captured);
            Assert.Equal(PcapWriter.LinkType, 12);
        }
        AssertMixReadBack(path);
    }

    [Fact]
    public async Task BackgroundWriter_WritesEverythingQueued_OnDispose_AndReleasesIt()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        var writer = new PcapWriter(path, new PcapWriterOptions { TimeProvider = time });
        WriteMix(writer, pool, time); // the test released its references already: the writer holds its own
        await writer.DisposeAsync();
        Assert.Equal(6, writer.Captured);
        Assert.Equal(0, writer.Queued);
        pool.AssertNoLeaks();
        AssertMixReadBack(path);
    }

    [Fact]
    public void BackgroundWriter_UnderLoad_CapturesOrCountsEveryPacket_FromManyThreads()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool(new PacketBufferPoolOptions());
        byte[] bytes = TestPackets.Ipv4Udp(200);
        var writer = new PcapWriter(path, new PcapWriterOptions { QueueCapacity = 8 });
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 500; i++)
            {
                using PacketBuffer p = pool.Pool.RentCopy(bytes);
                writer.Write(p);
            }
        });
        writer.Dispose();
        Assert.Equal(2000, writer.Captured + writer.DroppedQueueFull);
        Assert.Equal(0, writer.WriteErrors);
        var (_, records) = CaptureFiles.Read(path);
        Assert.Equal(writer.Captured, records.Count);
        Assert.All(records, r => Assert.Equal(bytes, r.Data));
    }

    [Fact]
    public void WriteAfterDispose_IsRefusedAndCounted_WithoutTakingAReference()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var writer = new PcapWriter(path);
        writer.Dispose();
        writer.Dispose();
        using PacketBuffer p = pool.Pool.RentCopy(TestPackets.Ipv4Udp(10));
        Assert.False(writer.Write(p));
        Assert.Equal(1, writer.DroppedClosed);
        Assert.Equal(1, p.ReferenceCount);
        Assert.Empty(CaptureFiles.Read(path).Records);
    }

    [Fact]
    public void SnapshotLength_TruncatesTheRecord_AndKeepsTheOriginalLength()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        byte[] bytes = TestPackets.Ipv4Tcp(5, 400);
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, SnapshotLength = 100 }))
        {
            using PacketBuffer p = TestPackets.Fragmented(pool, bytes, 40, 90, 200);
            writer.Write(p);
        }
        var record = Assert.Single(CaptureFiles.Read(path).Records);
        Assert.Equal(bytes.AsSpan(0, 100).ToArray(), record.Data);
        Assert.Equal((uint)bytes.Length, record.PacketLength);
    }

    [Fact]
    public void TapSink_CapturesAndForwards()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var inner = new CollectingSink();
        byte[] a = TestPackets.Ipv4Udp(10), b = TestPackets.Ipv6Tcp(1, 10);
        using (var writer = new PcapWriter(path))
        {
            var tap = new PcapTapSink(inner, writer);
            tap.Enqueue(pool.Pool.RentCopy(a));
            tap.Enqueue(TestPackets.Fragmented(pool, b, 50));
            tap.Flush();
        }
        Assert.Equal(1, inner.Flushes);
        Assert.Equal(new[] { a, b }, inner.Bytes());
        Assert.Equal(new[] { a, b }, CaptureFiles.Read(path).Records.Select(r => r.Data));
    }

    [Fact]
    public void TapSink_BeforeGroOnWrite_RecordsTheBytesAtTheTap()
    {
        // The TUN writer's chain: tap, then GRO on write, which appends the next segments to the first one and, on
        // flush, rewrites its IP length, IP checksum, flags and TCP checksum in place. The background writer must
        // record each segment as it was at the tap, not the super-segment it became.
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        const int Bursts = 100, PerBurst = 4;
        var tapped = new List<byte[]>();
        var bursts = new List<PacketBuffer[]>();
        for (int b = 0; b < Bursts; b++)
        {
            var spec = new SegmentSpec { Sequence = (uint)(b * 100_000), Payload = TestPackets.Payload(1000, b) };
            var burst = new PacketBuffer[PerBurst];
            for (int i = 0; i < PerBurst; i++)
            {
                burst[i] = spec.Rent(pool.Pool);
                tapped.Add(burst[i].ToArray());
                spec = spec.Next(TestPackets.Payload(1000, b * PerBurst + i));
            }
            bursts.Add(burst);
        }
        var merged = new List<PacketBuffer>();
        using (var writer = new PcapWriter(path))
        {
            var gro = new TcpGro(new GroOptions { Name = "capture-test" }, merged.Add);
            var tap = new PcapTapSink(new GroSink(gro), writer);
            foreach (PacketBuffer[] burst in bursts)
            {
                foreach (PacketBuffer packet in burst)
                {
                    tap.Enqueue(packet);
                }
                tap.Flush();
            }
        }
        Assert.Equal(Bursts, merged.Count);
        Assert.All(merged, p => Assert.Equal(PerBurst, p.SegmentsRepresented)); // GRO did change the first segments
        merged.ForEach(p => p.Release());
        List<CaptureFiles.Record> records = CaptureFiles.Read(path).Records;
        Assert.Equal(tapped.Count, records.Count);
        for (int i = 0; i < tapped.Count; i++)
        {
            Assert.True(tapped[i].AsSpan().SequenceEqual(records[i].Data), $"record {i} is not the packet as it was at the tap");
            Assert.Equal((uint)tapped[i].Length, records[i].PacketLength);
        }
    }

    /// <summary>A sink that hands packets to a <see cref="TcpGro"/> and flushes it at the end of a batch.</summary>
    private sealed class GroSink(TcpGro gro) : IPacketSink
    {
        public void Enqueue(PacketBuffer packet) => gro.Enqueue(packet);

        public void Flush() => gro.Flush();
    }

    [Fact]
    public void ImpairedWireCapture_ShowsSimulatedTime()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        using var source = new PacketQueue();
        var sink = new CollectingSink(time);
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = time }))
        {
            var options = new PipeLinkOptions { AToB = new ImpairmentOptions { Delay = TimeSpan.FromMilliseconds(250) }, TimeProvider = time };
            using var link = new PipeLink(source, new PcapTapSink(sink, writer), options);
            source.Enqueue(pool.Pool.RentCopy(TestPackets.Ipv4Udp(20)));
            link.PumpOnce();
            time.Advance(TimeSpan.FromMilliseconds(250));
            link.PumpOnce();
        }
        var record = Assert.Single(CaptureFiles.Read(path).Records);
        Assert.Equal(Start.UtcDateTime.AddMilliseconds(250), record.Timestamp);
    }

    [TsharkFact]
    public void Tshark_DissectsEveryPacketAsIp_WithNoMalformedPacketOrChecksumError()
    {
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        var time = new FakeTimeProvider(Start);
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true, TimeProvider = time }))
        {
            WriteMix(writer, pool, time);
        }
        List<string> lines = CaptureFiles.Tshark(path);
        lines.ForEach(output.WriteLine);
        Assert.Equal(Mix().Count, lines.Count);
        // frame|protocols|expert severities|expert messages|malformed: IP, TCP/UDP, and no expert info at all.
        Assert.All(lines, line => Assert.Matches(@"^\d+\|raw:(ip|ipv6):(tcp|udp)(:data)?\|\|\|$", line));
    }

    [TsharkFact]
    public void Tshark_SeesTheChecksumErrorsOfCorruptedPackets()
    {
        // The negative control of the test above: corrupted copies from the impairment stage fail tshark's checks.
        string path = NewFile();
        using var pool = new LeakCheckedPool();
        using (var writer = new PcapWriter(path, new PcapWriterOptions { Synchronous = true }))
        {
            var sink = new PcapTapSink(new CollectingSink(), writer);
            using var stage = new ImpairmentStage(sink, new ImpairmentOptions { CorruptPercent = 100 }, seed: 11);
            for (uint i = 0; i < 20; i++)
            {
                stage.Enqueue(pool.Pool.RentCopy(TestPackets.Ipv4Tcp(i, 200)));
            }
            stage.Flush();
        }
        List<string> lines = CaptureFiles.Tshark(path);
        lines.ForEach(output.WriteLine);
        Assert.Equal(20, lines.Count);
        const string ErrorSeverity = "8388608"; // PI_ERROR: bad checksum, malformed
        Assert.All(lines, line => Assert.Contains(ErrorSeverity, line.Split('|')[2], StringComparison.Ordinal));
    }

    [Fact]
    public void Metrics_TwoWriters_OneProcessWideMeter_ASeriesEachByFile_AndAClosedWriterStopsReporting()
    {
        using var pool = new LeakCheckedPool();
        using var recorder = new MeterRecorder(PcapWriter.MeterName);
        string pathA = NewFile(), pathB = NewFile();
        string fileA = $"file={Path.GetFileName(pathA)}", fileB = $"file={Path.GetFileName(pathB)}";
        var a = new PcapWriter(pathA, new PcapWriterOptions { Synchronous = true });
        using var b = new PcapWriter(pathB, new PcapWriterOptions { Synchronous = true });
        using (PacketBuffer p = pool.Pool.RentCopy(TestPackets.Ipv4Udp(33)))
        {
            a.Write(p);
            a.Write(p);
            b.Write(p);
        }
        var seen = recorder.Observe();
        Assert.Equal(1, recorder.MeterCount); // one static meter, not one per writer
        Assert.Contains(("netstack.link.capture.packets", 2L, fileA), seen);
        Assert.Contains(("netstack.link.capture.packets", 1L, fileB), seen);
        Assert.Contains(("netstack.link.capture.dropped", 0L, $"{fileB},reason=queue_full"), seen);
        a.Dispose();
        seen = recorder.Observe();
        Assert.DoesNotContain(seen, m => m.Tags == fileA || m.Tags.StartsWith(fileA + ",", StringComparison.Ordinal));
        Assert.Contains(("netstack.link.capture.packets", 1L, fileB), seen);
    }
}
