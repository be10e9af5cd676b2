using System.Diagnostics;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Wire;

namespace NetStack.Cli;

/// <summary>
/// <c>netstack selfcheck</c>: builds, parses, validates and checksums packets on the embedded default (no
/// device, no root) and prints throughput. Exits non-zero if any packet fails to round-trip.
/// </summary>
internal static class SelfCheck
{
    public static int Run(int packets, int payloadSize, TextWriter output)
    {
        var pool = new PacketBufferPool(new PacketBufferPoolOptions(), "selfcheck");
        byte[] payload = new byte[payloadSize];
        new Random(1).NextBytes(payload);
        int failures = 0;

        output.WriteLine($"netstack selfcheck: {packets:N0} packets, {payloadSize} B payload, IPv4 and IPv6 TCP");

        // Build: headers emitted from reprs into headroom, checksum over pseudo-header + header + payload.
        var built = new PacketBuffer[2];
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < packets; i++)
        {
            PacketBuffer p = Build(pool, i, payload, v6: (i & 1) == 1);
            if (i < 2)
            {
                built[i] = p;
            }
            else
            {
                p.Release();
            }
        }
        Report(output, "build + checksum", packets, payloadSize, sw.Elapsed);

        // Parse: views over the bytes, every field checked against what was built.
        sw.Restart();
        for (int i = 0; i < packets; i++)
        {
            if (!ParseAndCheck(built[i & 1].Head, (uint)(i & 1)))
            {
                failures++;
            }
        }
        Report(output, "parse IP + TCP views", packets, 0, sw.Elapsed);

        // RX validation as the channel endpoint does it (IP header checksum, TCP checksum with pseudo-header).
        sw.Restart();
        for (int i = 0; i < packets; i++)
        {
            PacketBuffer p = built[i & 1];
            p.RxChecksumValidated = false;
            if (RxChecksumValidator.Validate(p, out _) != RxVerdict.Validated)
            {
                failures++;
            }
        }
        Report(output, "RX checksum validation", packets, payloadSize, sw.Elapsed);

        // A corrupted copy must be caught.
        using (PacketBuffer bad = pool.RentCopy(built[0].Head))
        {
            bad.Head[^1] ^= 0x40;
            if (RxChecksumValidator.Validate(bad, out var reason) != RxVerdict.Drop || reason != RxDropReason.TcpBadChecksum)
            {
                output.WriteLine("FAIL: a corrupted packet was not caught");
                failures++;
            }
        }

        // Raw checksum bandwidth over 64 KiB.
        byte[] big = new byte[65536];
        new Random(2).NextBytes(big);
        int rounds = Math.Max(1, packets / 16);
        uint sink = 0;
        sw.Restart();
        for (int i = 0; i < rounds; i++)
        {
            sink += InternetChecksum.Sum(big);
        }
        double seconds = sw.Elapsed.TotalSeconds;
        output.WriteLine($"  {"checksum 64 KiB",-26} {rounds * (double)big.Length / seconds / 1e9,8:F2} GB/s   (sum {sink & 0xFFFF:X4})");

        built[0].Release();
        built[1].Release();
        if (pool.LiveBuffers != 0)
        {
            output.WriteLine($"FAIL: {pool.LiveBuffers} buffers leaked");
            failures++;
        }
        output.WriteLine(failures == 0 ? "selfcheck: OK" : $"selfcheck: {failures} FAILURE(S)");
        return failures == 0 ? 0 : 1;
    }

    private static PacketBuffer Build(PacketBufferPool pool, int i, byte[] payload, bool v6)
    {
        var tcp = new TcpRepr
        {
            SourcePort = 40000,
            DestinationPort = 80,
            SequenceNumber = (uint)i * 1448u,
            AcknowledgmentNumber = 1,
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            WindowSize = 512,
            Timestamps = new TcpTimestamps((uint)i, 7),
        };
        PacketBuffer p = pool.Rent(payload.Length, headroom: 128);
        payload.CopyTo(p.Append(payload.Length));
        uint payloadSum = InternetChecksum.Sum(payload);
        Span<byte> tcpHeader = p.Prepend(tcp.BufferLength);
        tcp.Emit(tcpHeader);
        int l4Length = tcp.BufferLength + payload.Length;
        uint pseudo;
        if (v6)
        {
            var ip = new Ipv6Repr { Source = new UInt128(0xFD00_0000_0000_0000, 1), Destination = new UInt128(0xFD00_0000_0000_0000, 2), NextHeader = IpProtocol.Tcp, HopLimit = 64, PayloadLength = l4Length };
            Span<byte> ipHeader = p.Prepend(Ipv6Repr.BufferLength);
            ip.Emit(ipHeader);
            pseudo = InternetChecksum.PseudoHeaderSumV6(ipHeader.Slice(8, 16), ipHeader.Slice(24, 16), (byte)IpProtocol.Tcp, l4Length);
            p.NetworkProtocol = NetworkProtocol.IPv6;
        }
        else
        {
            var ip = new Ipv4Repr { Source = 0x0A00_0001, Destination = 0x0A00_0002, Protocol = IpProtocol.Tcp, TimeToLive = 64, Identification = (ushort)i, DontFragment = true, PayloadLength = l4Length };
            Span<byte> ipHeader = p.Prepend(ip.HeaderLength);
            ip.Emit(ipHeader);
            pseudo = InternetChecksum.PseudoHeaderSumV4(ipHeader.Slice(12, 4), ipHeader.Slice(16, 4), (byte)IpProtocol.Tcp, l4Length);
            p.NetworkProtocol = NetworkProtocol.IPv4;
        }
        TcpHeader.WriteChecksum(p.Head[^l4Length..][..tcp.BufferLength], pseudo, payloadSum);
        return p;
    }

    private static bool ParseAndCheck(ReadOnlySpan<byte> packet, uint sequenceIndex)
    {
        ReadOnlySpan<byte> segment;
        if (packet[0] >> 4 == 4)
        {
            if (!Ipv4Header.TryCreate(packet, out var ip, out _) || ip.Protocol != IpProtocol.Tcp || ip.Destination != 0x0A00_0002)
            {
                return false;
            }
            segment = ip.Payload;
        }
        else
        {
            if (!Ipv6Header.TryCreate(packet, out var ip, out _) || ip.NextHeader != IpProtocol.Tcp)
            {
                return false;
            }
            segment = ip.Payload;
        }
        return TcpHeader.TryCreate(segment, out var tcp, out _)
            && tcp.SequenceNumber == sequenceIndex * 1448u && tcp.DestinationPort == 80 && tcp.Flags == (TcpFlags.Ack | TcpFlags.Psh);
    }

    private static void Report(TextWriter output, string what, int packets, int payloadSize, TimeSpan elapsed)
    {
        double s = elapsed.TotalSeconds;
        string rate = payloadSize > 0 ? $"{packets * (double)payloadSize * 8 / s / 1e9,8:F2} Gbit/s payload" : "";
        output.WriteLine($"  {what,-26} {packets / s / 1e6,8:F2} Mpps  {1e9 * s / packets,8:F1} ns/packet  {rate}");
    }
}
