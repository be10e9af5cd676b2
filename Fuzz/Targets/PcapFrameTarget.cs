// `netstack pcap check` on one captured frame: the dissector reads untrusted capture files, so it is fuzzed like
// the stack's parsers, and its checksum verdicts are held against RX validation's.
using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using NetStack.Buffers;
using NetStack.Fuzz.Support;
using NetStack.Link;
using NetStack.Link.Capture;
using NetStack.Link.Channels;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Input: byte 0 picks the link type (raw, Ethernet, Linux cooked v1/v2, loopback, IPv4, IPv6, or an unsupported
/// one), bytes 1–2 how many bytes the frame had on the wire beyond those captured, then the frame.
/// <para>Invariants: the dissector never throws; its JSON line parses and holds the report's layers, error and
/// checksums (each named once); an error's layer is one of the link names, <c>ip</c>, or a parsed layer; for a raw IP
/// frame captured whole, RX validation and the dissector agree: a packet RX validation marks Validated has good
/// TCP/UDP checksums, one it drops for a bad TCP/UDP checksum has that checksum bad, and a bad IPv4 header checksum
/// is reported bad by both.</para>
/// </summary>
public sealed class PcapFrameTarget : IFuzzTarget
{
    private static readonly int[] LinkTypes =
    [
        PacketChecker.LinkRaw, PacketChecker.LinkEthernet, PacketChecker.LinkLinuxSll, PacketChecker.LinkLinuxSll2,
        PacketChecker.LinkNull, PacketChecker.LinkIpv4, PacketChecker.LinkIpv6, PacketChecker.LinkRawLegacy, 147,
    ];

    private readonly PacketReport _report = new();
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-pcap");

    /// <inheritdoc/>
    public string Name => "PcapFrame";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.Length < 3)
        {
            return;
        }
        int linkType = LinkTypes[input[0] % LinkTypes.Length];
        ReadOnlySpan<byte> frame = input[3..];
        int extra = BinaryPrimitives.ReadUInt16BigEndian(input[1..]) & 0x0FFF;
        PacketChecker.Check(linkType, frame, frame.Length + extra, _report);

        _buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(_buffer))
        {
            PcapCheck.WritePacket(json, 1, linkType, frame.Length, frame.Length + extra, _report);
        }
        using (JsonDocument document = JsonDocument.Parse(_buffer.WrittenMemory))
        {
            JsonElement root = document.RootElement;
            Check.Equal(_report.Layers.Count, root.GetProperty("layers").GetArrayLength(), "JSON layers");
            Check.Equal(_report.Error is null, root.GetProperty("error").ValueKind == JsonValueKind.Null, "JSON error");
            Check.Equal(_report.Checksums.Count, root.GetProperty("checksums").EnumerateObject().Count(), "JSON checksums (each named once)");
        }
        if (_report.ErrorLayer is { } layer)
        {
            Check.True(layer is "link" or "ip" || _report.Layers.Contains(layer), $"error layer {layer} is a parsed layer");
        }
        if (linkType == PacketChecker.LinkRaw && extra == 0)
        {
            AgreeWithRxValidation(frame);
        }
    }

    private void AgreeWithRxValidation(ReadOnlySpan<byte> frame)
    {
        using PacketBuffer packet = _pool.RentCopy(frame);
        RxVerdict verdict = RxChecksumValidator.Validate(packet, out RxDropReason reason);
        ChecksumVerdict? Find(string name)
        {
            foreach ((string n, ChecksumVerdict v) in _report.Checksums)
            {
                if (n == name)
                {
                    return v;
                }
            }
            return null;
        }
        if (verdict == RxVerdict.Validated)
        {
            ChecksumVerdict? l4 = Find("tcp") ?? Find("udp");
            Check.True(l4 is ChecksumVerdict.Good or ChecksumVerdict.None, $"RX-validated packet: the dissector's transport checksum is {l4}");
        }
        if (reason == RxDropReason.TcpBadChecksum)
        {
            Check.Equal<ChecksumVerdict?>(ChecksumVerdict.Bad, Find("tcp"), "TCP checksum bad for both");
        }
        if (reason == RxDropReason.UdpBadChecksum)
        {
            Check.Equal<ChecksumVerdict?>(ChecksumVerdict.Bad, Find("udp"), "UDP checksum bad for both");
        }
        if (reason == RxDropReason.Ipv4BadHeaderChecksum)
        {
            Check.Equal<ChecksumVerdict?>(ChecksumVerdict.Bad, Find("ipv4"), "IPv4 header checksum bad for both");
        }
    }
}
