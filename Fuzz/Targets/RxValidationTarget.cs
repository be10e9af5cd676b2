// RX checksum validation (the channel endpoint's first step) over one flat packet and over the same bytes split
// into a head and payload segments: the verdict must not depend on where the payload is cut.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Fuzz.Support;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Wire;

namespace NetStack.Fuzz.Targets;

/// <summary>
/// Invariants: for the input as one head-only packet and as a head (all headers) plus 2–3 payload segments cut at
/// positions derived from the input, <see cref="RxChecksumValidator"/> gives the same verdict, drop reason, validated
/// flag, network protocol and resulting bytes; a Validated TCP/UDP packet's checksum verifies by the scalar reference
/// (and a bad-checksum drop does not); validation of an already-validated packet never drops it for a checksum;
/// every buffer goes back to the pool.
/// </summary>
public sealed class RxValidationTarget : IFuzzTarget
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "fuzz-rx");

    /// <inheritdoc/>
    public string Name => "RxValidation";

    /// <inheritdoc/>
    public void Run(ReadOnlySpan<byte> input)
    {
        Outcome flat;
        using (PacketBuffer packet = _pool.RentCopy(input))
        {
            flat = Validate(packet);
        }
        CheckAgainstReference(input, flat);

        var random = new InputRandom(input, salt: 1);
        int head = HeaderSpan.Of(input);
        for (int layout = 0; layout < 2; layout++)
        {
            int headLength = head + random.Next(Math.Min(4, input.Length - head + 1));
            int[] cuts = SegmentedPacket.ChooseCuts(ref random, headLength, input.Length, maxCuts: 2);
            using PacketBuffer segmented = SegmentedPacket.Build(_pool, input, headLength, cuts, random.Next(4));
            Check.Equal(input.Length, segmented.Length, "segmented length");
            Outcome split = Validate(segmented);
            if (flat != split)
            {
                throw new FuzzInvariantException(
                    $"verdict depends on the split: flat {flat}, head {headLength} cuts [{string.Join(",", cuts)}] gives {split}");
            }
        }

        // A packet a trusted device already validated (virtio DATA_VALID) must not be dropped for a checksum.
        using (PacketBuffer trusted = _pool.RentCopy(input))
        {
            trusted.RxChecksumValidated = true;
            RxVerdict verdict = RxChecksumValidator.Validate(trusted, out RxDropReason reason);
            Check.True(verdict != RxVerdict.Drop || reason is not (RxDropReason.Ipv4BadHeaderChecksum or RxDropReason.TcpBadChecksum or RxDropReason.UdpBadChecksum),
                $"a trusted packet dropped for {reason}");
        }
        Check.NoLeaks(_pool);
    }

    private static Outcome Validate(PacketBuffer packet)
    {
        RxVerdict verdict = RxChecksumValidator.Validate(packet, out RxDropReason reason);
        Check.Equal(verdict == RxVerdict.Drop, reason != RxDropReason.None, "a drop has a reason, a pass has none");
        Check.True(verdict != RxVerdict.Validated || packet.RxChecksumValidated, "Validated marks the packet");
        return new Outcome(verdict, reason, packet.RxChecksumValidated, packet.NetworkProtocol, packet.Length, Convert.ToHexString(packet.ToArray()));
    }

    // The flat verdict against the views: what the validator claims about checksums must be true of the bytes.
    private static void CheckAgainstReference(ReadOnlySpan<byte> input, Outcome outcome)
    {
        if (outcome.Verdict == RxVerdict.Drop && outcome.Reason is not (RxDropReason.TcpBadChecksum or RxDropReason.UdpBadChecksum))
        {
            return;
        }
        if (!TryLocateTransport(input, out IpProtocol protocol, out ReadOnlySpan<byte> transport, out uint pseudo))
        {
            Check.True(outcome.Verdict != RxVerdict.Validated || input.Length == 0, "Validated packet has a transport the views find");
            return;
        }
        if (protocol == IpProtocol.Tcp)
        {
            bool good = InternetChecksum.Fold(InternetChecksum.SumScalar(transport, pseudo)) == 0xFFFF;
            if (outcome.Verdict == RxVerdict.Validated)
            {
                Check.True(good, "a Validated TCP segment verifies (scalar)");
            }
            if (outcome.Reason == RxDropReason.TcpBadChecksum)
            {
                Check.True(!good, "a TcpBadChecksum drop does not verify (scalar)");
            }
        }
        else if (protocol == IpProtocol.Udp && UdpHeader.TryCreate(transport, out UdpHeader udp, out _) && udp.Checksum != 0)
        {
            uint udpPseudo = outcome.Protocol == NetworkProtocol.IPv4
                ? InternetChecksum.PseudoHeaderSumV4(input.Slice(12, 4), input.Slice(16, 4), (byte)IpProtocol.Udp, udp.Length)
                : InternetChecksum.PseudoHeaderSumV6(input.Slice(8, 16), input.Slice(24, 16), (byte)IpProtocol.Udp, udp.Length);
            bool good = InternetChecksum.Fold(InternetChecksum.SumScalar(udp.Datagram, udpPseudo)) == 0xFFFF;
            if (outcome.Verdict == RxVerdict.Validated)
            {
                Check.True(good, "a Validated UDP datagram verifies (scalar)");
            }
            if (outcome.Reason == RxDropReason.UdpBadChecksum)
            {
                Check.True(!good, "a UdpBadChecksum drop does not verify (scalar)");
            }
        }
    }

    private static bool TryLocateTransport(ReadOnlySpan<byte> input, out IpProtocol protocol, out ReadOnlySpan<byte> transport, out uint pseudo)
    {
        protocol = default;
        transport = default;
        pseudo = 0;
        if (Ipv4Header.TryCreate(input, out Ipv4Header v4, out _))
        {
            protocol = v4.Protocol;
            transport = v4.Payload;
            pseudo = InternetChecksum.PseudoHeaderSumV4(v4.SourceAddress, v4.DestinationAddress, (byte)protocol, transport.Length);
            return !v4.IsFragment;
        }
        if (Ipv6Header.TryCreate(input, out Ipv6Header v6, out _) && Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _) && !chain.IsFragment)
        {
            protocol = chain.UpperLayerProtocol;
            transport = v6.Payload[chain.UpperLayerOffset..];
            pseudo = InternetChecksum.PseudoHeaderSumV6(v6.SourceAddress, v6.DestinationAddress, (byte)protocol, transport.Length);
            return true;
        }
        return false;
    }

    private readonly record struct Outcome(RxVerdict Verdict, RxDropReason Reason, bool Validated, NetworkProtocol Protocol, int Length, string Bytes);
}
