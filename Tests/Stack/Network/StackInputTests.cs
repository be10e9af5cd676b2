using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Net;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

/// <summary>IPv4/IPv6 input validation (RFC 791, RFC 1122 §3.2.1, RFC 8200), each drop counted; reassembly at the stack.</summary>
public class StackInputTests
{
    private static (StackHarness H, UdpEndpoint Udp) WithListener(bool rawLink = false)
    {
        var h = new StackHarness(rawLink);
        UdpEndpoint udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        return (h, udp);
    }

    private static byte[] Receive(UdpEndpoint udp)
    {
        var buffer = new byte[70000];
        Assert.True(udp.TryReceive(buffer, out var r), "a datagram was delivered");
        Assert.False(r.Truncated);
        return buffer[..r.ReceivedBytes];
    }

    [Fact]
    public void ValidUdp_IsDelivered_V4AndV6()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(300);
            h.Inject(Pkt.Udp4(data));
            Assert.Equal(data, Receive(udp));
            h.Inject(Pkt.Udp6(data));
            Assert.Equal(data, Receive(udp));
            h.AssertNothingSent();
            Assert.Equal(0, h.Stack.Drops.Total);
        }
    }

    public static TheoryData<string, IpDropReason> BadIpv4 => new()
    {
        { "version", IpDropReason.BadVersion },
        { "ihl<5", IpDropReason.Ipv4BadHeader },
        { "ihl>packet", IpDropReason.Ipv4BadHeader },
        { "total>packet", IpDropReason.Ipv4BadHeader },
        { "total<ihl", IpDropReason.Ipv4BadHeader },
        { "short", IpDropReason.Ipv4BadHeader },
        { "checksum", IpDropReason.Ipv4BadChecksum },
        { "options", IpDropReason.Ipv4BadOptions },
        { "ttl0", IpDropReason.ZeroTtl },
        { "src-multicast", IpDropReason.BadSourceAddress },
        { "src-broadcast", IpDropReason.BadSourceAddress },
        { "src-directed-broadcast", IpDropReason.BadSourceAddress },
        { "src-unspecified", IpDropReason.BadSourceAddress },
        { "src-loopback", IpDropReason.BadSourceAddress },
        { "src-own", IpDropReason.MartianSourceOwnAddress },
        { "src-zeronet", IpDropReason.MartianSourceZeroNetwork },
        { "not-for-us", IpDropReason.NotForUs },
    };

    [Theory]
    [MemberData(nameof(BadIpv4))]
    public void Rfc791_MalformedIpv4_IsDroppedAndCounted_OnALinkWithoutOffload(string defect, IpDropReason reason)
    {
        var (h, udp) = WithListener(rawLink: true);
        using (h)
        using (udp)
        {
            byte[] p = Pkt.Udp4(Pkt.Data(40));
            void Refresh() => Ipv4Header.RecomputeChecksum(p.AsSpan(0, (p[0] & 0xF) * 4));
            switch (defect)
            {
                case "version": p[0] = 0x55; break;
                case "ihl<5": p[0] = 0x44; break;
                case "ihl>packet": p = p[..24]; p[0] = 0x4F; BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 24); break;
                case "total>packet": BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)(p.Length + 1)); Refresh(); break;
                case "total<ihl": BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 19); Refresh(); break;
                case "short": p = p[..19]; break;
                case "checksum": p[10] ^= 0x01; break;
                case "options":
                    p = Pkt.Ip4(IpProtocol.Udp, Pkt.UdpDatagram(Pkt.Data(40), 5000, 7000, StackHarness.Peer4, StackHarness.Local4),
                        options: [0x07, 0x09, 0x04, 0, 0, 0, 0, 0]); // record route claiming 9 bytes in an 8-byte area
                    break;
                case "ttl0": p = Pkt.Ip4(IpProtocol.Udp, p.AsSpan(20), ttl: 0); break;
                case "src-multicast": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("239.1.2.3")); break;
                case "src-broadcast": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("255.255.255.255")); break;
                case "src-directed-broadcast": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("10.0.0.255")); break;
                case "src-unspecified": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("0.0.0.0")); break;
                case "src-loopback": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("127.0.0.1")); break;
                case "src-own": p = Pkt.Udp4(Pkt.Data(40), src: StackHarness.Local4); break; // LAND
                case "src-zeronet": p = Pkt.Udp4(Pkt.Data(40), src: NetAddress.Parse("0.1.2.3")); break;
                case "not-for-us": p = Pkt.Udp4(Pkt.Data(40), dst: NetAddress.Parse("10.0.0.3")); break;
            }
            h.Inject(p);
            Assert.False(udp.TryReceive(new byte[100], out _));
            h.AssertNothingSent();
            Assert.Equal(1, h.Stack.Drops[reason]);
            Assert.Equal(1, h.Stack.Drops.Total);
        }
    }

    [Fact]
    public void Rfc791_BadHeaderChecksum_OnAnOffloadingLink_IsTheLinksDrop()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] p = Pkt.Udp4(Pkt.Data(40));
            p[10] ^= 0x01;
            h.Inject(p);
            Assert.Equal(1, h.Channel!.RxDrops[RxDropReason.Ipv4BadHeaderChecksum]);
            Assert.Equal(0, udp.Available);
        }
    }

    public static TheoryData<string, IpDropReason> BadIpv6 => new()
    {
        { "short", IpDropReason.Ipv6BadHeader },
        { "payload>packet", IpDropReason.Ipv6BadHeader },
        { "hop0", IpDropReason.ZeroTtl },
        { "src-multicast", IpDropReason.BadSourceAddress },
        { "src-unspecified", IpDropReason.BadSourceAddress },
        { "src-loopback", IpDropReason.BadSourceAddress },
        { "src-own", IpDropReason.MartianSourceOwnAddress },
        { "src-v4mapped", IpDropReason.MartianSourceIpv4Mapped },
        { "not-for-us", IpDropReason.NotForUs },
        { "hbh-not-first", IpDropReason.Ipv6BadExtensionChain },
        { "bad-option-length", IpDropReason.Ipv6BadExtensionChain },
    };

    [Theory]
    [MemberData(nameof(BadIpv6))]
    public void Rfc8200_MalformedIpv6_IsDroppedAndCounted(string defect, IpDropReason reason)
    {
        var (h, udp) = WithListener(rawLink: true);
        using (h)
        using (udp)
        {
            byte[] datagram = Pkt.UdpDatagram(Pkt.Data(40), 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
            byte[] p = Pkt.Ip6(IpProtocol.Udp, datagram);
            switch (defect)
            {
                case "short": p = p[..39]; break;
                case "payload>packet": BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(datagram.Length + 1)); break;
                case "hop0": p[7] = 0; break;
                case "src-multicast": p = Pkt.Udp6(Pkt.Data(40), src: NetAddress.Parse("ff02::1")); break;
                case "src-unspecified": p = Pkt.Udp6(Pkt.Data(40), src: NetAddress.Parse("::")); break;
                case "src-loopback": p = Pkt.Udp6(Pkt.Data(40), src: NetAddress.Parse("::1")); break;
                case "src-own": p = Pkt.Udp6(Pkt.Data(40), src: StackHarness.Local6); break; // LAND
                case "src-v4mapped": p = Pkt.Udp6(Pkt.Data(40), src: NetAddress.Parse("::ffff:10.0.0.2")); break;
                case "not-for-us": p = Pkt.Udp6(Pkt.Data(40), dst: NetAddress.Parse("fd00::3")); break;
                case "hbh-not-first":
                    p = Pkt.Ip6(IpProtocol.Ipv6DestinationOptions,
                        Pkt.Concat(Pkt.OptionsHeader(IpProtocol.HopByHop), Pkt.OptionsHeader(IpProtocol.Udp), datagram));
                    break;
                case "bad-option-length":
                    p = Pkt.Ip6(IpProtocol.Ipv6DestinationOptions,
                        Pkt.Concat([(byte)IpProtocol.Udp, 0, 1, 5, 0, 0, 0, 0], datagram)); // PadN claims 5 bytes, 4 remain
                    break;
            }
            h.Inject(p);
            Assert.Equal(0, udp.Available);
            h.AssertNothingSent();
            Assert.Equal(1, h.Stack.Drops[reason]);
            Assert.Equal(1, h.Stack.Drops.Total);
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("239.1.2.3")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:10.0.0.1")]
    public void Martian_DestinationOnAPromiscuousNic_NeverReachesAListener(string destination)
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            h.Nic.Promiscuous = true;
            NetAddress dst = NetAddress.Parse(destination);
            h.Inject(dst.IsV4 ? Pkt.Udp4(Pkt.Data(40), dst: dst) : Pkt.Udp6(Pkt.Data(40), dst: dst));
            Assert.Equal(0, udp.Available);
            h.AssertNothingSent();
            Assert.Equal(1, h.Stack.Drops[IpDropReason.MartianDestination]);
        }
    }

    [Fact]
    public void Promiscuous_AcceptsAnyDestination_V4AndV6()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            h.Inject(Pkt.Udp4(Pkt.Data(10), dst: NetAddress.Parse("192.0.2.44")));
            Assert.Equal(0, udp.Available);
            Assert.Equal(1, h.Stack.Drops[IpDropReason.NotForUs]);
            h.Nic.Promiscuous = true;
            h.Inject(Pkt.Udp4(Pkt.Data(10), dst: NetAddress.Parse("192.0.2.44")));
            h.Inject(Pkt.Udp6(Pkt.Data(10), dst: NetAddress.Parse("2001:db8::44")));
            Assert.Equal(2, udp.Available);
            Assert.Equal(1, h.Stack.Drops[IpDropReason.NotForUs]);
        }
    }

    [Fact]
    public void Rfc1122_3_2_1_8_ValidIpv4Options_AreParsedAndIgnored()
    {
        var (h, udp) = WithListener(rawLink: true);
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(33);
            byte[] d = Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
            // NOP, Router Alert (RFC 2113), record route with room for one address, EOL padding.
            byte[] options = [0x01, 0x94, 0x04, 0x00, 0x00, 0x07, 0x07, 0x04, 0, 0, 0, 0];
            h.Inject(Pkt.Ip4(IpProtocol.Udp, d, options: options));
            Assert.Equal(data, Receive(udp));
            Assert.Equal(0, h.Stack.Drops.Total);
        }
    }

    [Fact]
    public void LinkPadding_IsTrimmed_V4AndV6()
    {
        var (h, udp) = WithListener(rawLink: true);
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(5);
            h.Inject([.. Pkt.Udp4(data), 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE]);
            Assert.Equal(data, Receive(udp));
            h.Inject([.. Pkt.Udp6(data), 0xEE, 0xEE, 0xEE]);
            Assert.Equal(data, Receive(udp));
            // An echo request with padding is answered with exactly its own data.
            h.Inject([.. Pkt.Echo4Request(1, 2, data), 0xEE, 0xEE]);
            byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
            Assert.Equal(data, icmp[8..]);
        }
    }

    [Fact]
    public void Rfc791_FragmentedUdpV4_IsReassembledAndDelivered_OutOfOrder()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(3000);
            byte[] d = Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
            for (int offset = 2400; offset >= 0; offset -= 1200)
            {
                int length = Math.Min(1200, d.Length - offset);
                h.Inject(Pkt.Ip4(IpProtocol.Udp, d.AsSpan(offset, length), id: 0x99, mf: offset + length < d.Length, fragmentOffset: offset));
            }
            Assert.Equal(data, Receive(udp));
            Assert.Equal(1, h.Stack.Events[IpEvent.DatagramsReassembled]);
            h.AssertNothingSent();
        }
    }

    [Fact]
    public void Rfc8200_4_5_FragmentedUdpV6_IsReassembledAndDelivered()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(3000);
            byte[] d = Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
            for (int offset = 0; offset < d.Length; offset += 1232)
            {
                int length = Math.Min(1232, d.Length - offset);
                h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, offset, offset + length < d.Length, 0xABCD), d.AsSpan(offset, length).ToArray())));
            }
            Assert.Equal(data, Receive(udp));
            h.AssertNothingSent();
        }
    }

    [Fact]
    public void Rfc8200_4_5_FragmentedUdpV6_With300BytesOfDestinationOptions_IsReassembledAndDelivered()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(2000);
            byte[] options = new byte[304]; // a destination options header in the fragmentable part (RFC 8200 §4.5)
            options[0] = (byte)IpProtocol.Udp;
            options[1] = 304 / 8 - 1;
            options[2] = 1; // PadN options over the rest (RFC 8200 §4.2): 255 bytes, then 47
            options[3] = 253;
            options[257] = 1;
            options[258] = 45;
            byte[] d = Pkt.Concat(options, Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer6, StackHarness.Local6));
            for (int offset = 0; offset < d.Length; offset += 1232)
            {
                int length = Math.Min(1232, d.Length - offset);
                h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Ipv6DestinationOptions, offset, offset + length < d.Length, 0xABCE), d.AsSpan(offset, length).ToArray())));
            }
            Assert.Equal(data, Receive(udp));
            h.AssertNothingSent();
        }
    }

    [Fact]
    public void Rfc6946_AtomicFragment_IsDelivered()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] data = Pkt.Data(20);
            byte[] d = Pkt.UdpDatagram(data, 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
            h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, 0, false, 1), d)));
            Assert.Equal(data, Receive(udp));
            // An atomic echo request is answered.
            byte[] echo = Pkt.Icmp6(128, 0, 0x00050006, Pkt.Data(8));
            h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.IcmpV6, 0, false, 2), echo)));
            byte[] reply = Pkt.CheckIcmp6(h.SentOne());
            Assert.Equal(129, reply[0]);
            Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
        }
    }

    [Fact]
    public void Rfc5722_OverlappingFragments_DropTheDatagram()
    {
        var (h, udp) = WithListener();
        using (h)
        using (udp)
        {
            byte[] d = Pkt.UdpDatagram(Pkt.Data(100), 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
            h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, 0, true, 3), d[..64])));
            h.Inject(Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, 56, false, 3), d[56..])));
            Assert.Equal(0, udp.Available);
            Assert.True(h.Stack.Drops[IpDropReason.Fragment] >= 1);
            Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
        }
    }

    [Fact]
    public void Metrics_IpDropsAreExportedWithTheReasonTag()
    {
        using var h = new StackHarness();
        for (int i = 0; i < 13; i++)
        {
            h.Inject(Pkt.Ip4(IpProtocol.Udp, Pkt.UdpDatagram(Pkt.Data(4), 5000, 7000, StackHarness.Peer4, StackHarness.Local4), ttl: 0));
        }
        var seen = new List<(long Value, string? Reason)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "NetStack.Network" && instrument.Name == "netstack.ip.drops")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                {
                    reason = tag.Value as string;
                }
            }
            lock (seen)
            {
                seen.Add((value, reason));
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(13, h.Stack.Drops[IpDropReason.ZeroTtl]);
        lock (seen)
        {
            Assert.Contains((13L, (string?)nameof(IpDropReason.ZeroTtl)), seen);
        }
    }

    private sealed class CapturingLoggerFactory : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Messages { get; } = [];

        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Debug; // trace logs every drop

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => Messages.Add(formatter(state, exception));

        public void Dispose()
        {
        }
    }

    [Fact]
    public void Logger_HearsOfRareEvents_NotOfEveryPacket()
    {
        var logs = new CapturingLoggerFactory();
        using var h = new StackHarness(loggerFactory: logs);
        for (int i = 0; i < 5; i++)
        {
            h.Inject(Pkt.Echo4Request(1, (ushort)i, Pkt.Data(8)));
            h.Inject(Pkt.Udp4(Pkt.Data(8), dport: 9));
        }
        h.Sent();
        Assert.Empty(logs.Messages);
        // A limit reached is logged once per interval, not per packet.
        for (int i = 0; i < 100; i++)
        {
            h.Inject(Pkt.Udp4(Pkt.Data(8), dport: 9));
        }
        h.Sent();
        Assert.Single(logs.Messages, m => m.Contains("Limit reached", StringComparison.Ordinal));
        byte[] udp = Pkt.UdpDatagram(Pkt.Data(64), 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        h.Inject(Pkt.Ip4(IpProtocol.Udp, udp.AsSpan(0, 32), id: 79, mf: true));
        h.Clock.Advance(TimeSpan.FromSeconds(31));
        h.Sent();
        Assert.Contains(logs.Messages, m => m.Contains("Reassembly timed out", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reassembly_AnyCutsAnyOrderWithDuplicates_DeliversTheDatagramOnceIntact(bool v6)
    {
        var random = new Random(v6 ? 61 : 60);
        using var h = new StackHarness(debugPool: false);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        var buffer = new byte[70000];
        for (int round = 0; round < 40; round++)
        {
            byte[] payload = Pkt.Data(random.Next(1, 9000), seed: round);
            byte[] d = v6
                ? Pkt.UdpDatagram(payload, 5000, 7000, StackHarness.Peer6, StackHarness.Local6)
                : Pkt.UdpDatagram(payload, 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
            var cuts = new List<(int Offset, int Length)>();
            for (int offset = 0; offset < d.Length;)
            {
                int length = Math.Min(d.Length - offset, random.Next(1, 200) * 8);
                cuts.Add((offset, length));
                offset += length;
            }
            if (cuts.Count == 1)
            {
                cuts = [(0, 8), (8, d.Length - 8)]; // always a real fragment train (an IPv6 atomic fragment is not reassembled)
            }
            // Any order; exact duplicates of fragments anywhere before the one that completes the datagram (one
            // arriving after it would start a new reassembly, as it should).
            var order = cuts.OrderBy(_ => random.Next()).ToList();
            foreach (var duplicate in order.Take(order.Count - 1).Where(_ => random.Next(4) == 0).ToList())
            {
                order.Insert(random.Next(order.Count), duplicate);
            }
            ushort id = (ushort)(1000 + round);
            foreach (var (offset, length) in order)
            {
                bool more = offset + length < d.Length;
                h.Inject(v6
                    ? Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, offset, more, id), d.AsSpan(offset, length).ToArray()))
                    : Pkt.Ip4(IpProtocol.Udp, d.AsSpan(offset, length), id: id, mf: more, fragmentOffset: offset));
            }
            Assert.True(udp.TryReceive(buffer, out var r), $"round {round}: delivered");
            Assert.Equal(payload, buffer[..r.ReceivedBytes]);
            Assert.False(udp.TryReceive(buffer, out _), $"round {round}: delivered once");
        }
        Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
        h.AssertNothingSent();
    }
}
