// `netstack serve`: the command line, the run until Ctrl-C or SIGTERM, and the counters printed at the end.
using System.CommandLine;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Cli.Serve;

/// <summary>`netstack serve`: a stack on a TUN device in the current network namespace, serving test services.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var tun = new Option<string>("--tun") { Description = "TUN interface to attach to (created when there is none of that name).", Required = true };
        var address = new Option<string[]>("--address") { Description = "The stack's address with prefix length (repeat for IPv6).", Required = true, AllowMultipleArgumentsPerToken = false };
        var mtu = new Option<int>("--mtu") { Description = "Link MTU (set on the device too).", DefaultValueFactory = _ => 1500 };
        var offload = new Option<string>("--offload") { Description = "auto: virtio header, checksum/TSO/USO offloads; off: a plain TUN.", DefaultValueFactory = _ => "auto" };
        offload.AcceptOnlyFromAmong("auto", "off");
        var inboundGso = new Option<string>("--inbound-gso") { Description = "What kernel super-packets become: deliver (one large segment) or split.", DefaultValueFactory = _ => "deliver" };
        inboundGso.AcceptOnlyFromAmong("deliver", "split");
        var verifyChecksums = new Option<bool>("--verify-checksums") { Description = "Complete and verify the kernel's partial checksums (the default trusts NEEDS_CSUM/DATA_VALID, as Linux's virtio_net does)." };
        var noInlineWrites = new Option<bool>("--no-inline-writes") { Description = "Leave every write to the writer loop (by default the reader thread writes the ACKs its batch produced)." };
        var noAckFilter = new Option<bool>("--no-ack-filter") { Description = "Write every ACK (by default a pure ACK superseded by a later one of its connection in the same write batch is dropped, RFC 3449 §5.2.1)." };
        var outboundQueue = new Option<int?>("--outbound-queue") { Description = "Outbound queue bound in packets (each up to 64 KiB; default: the TUN endpoint's)." };
        var noGroOnWrite = new Option<bool>("--no-gro-on-write") { Description = "Do not coalesce outbound TCP segments before writing." };
        var noUdpGroOnWrite = new Option<bool>("--no-udp-gro-on-write") { Description = "Do not coalesce outbound UDP datagrams into USO packets." };
        var pcap = new Option<string?>("--pcap") { Description = "Capture every packet to this file (raw IP pcap)." };
        var echoPort = new Option<int>("--echo-port") { Description = "Echo (RFC 862) port, 0 to disable.", DefaultValueFactory = _ => EchoService.DefaultPort };
        var discardPort = new Option<int>("--discard-port") { Description = "Discard (RFC 863) port, 0 to disable.", DefaultValueFactory = _ => DiscardService.DefaultPort };
        var chargenPort = new Option<int>("--chargen-port") { Description = "Chargen-style source port, 0 to disable.", DefaultValueFactory = _ => ChargenService.DefaultPort };
        var iperfPort = new Option<int>("--iperf3-port") { Description = "iperf3 server port, 0 to disable.", DefaultValueFactory = _ => Iperf3.Iperf3Server.DefaultPort };
        var httpPort = new Option<int>("--http-port") { Description = "HTTP port (GET /bytes/N, POST /sha256), 0 to disable.", DefaultValueFactory = _ => HttpService.DefaultPort };
        var receiveBuffer = new Option<int>("--receive-buffer") { Description = "TCP receive buffer (window) a connection starts with, bytes (Linux's tcp_rmem default); auto-tuning grows it for connections that read.", DefaultValueFactory = _ => 128 * 1024 };
        var sendBuffer = new Option<int>("--send-buffer") { Description = "TCP send buffer per connection, bytes.", DefaultValueFactory = _ => 512 * 1024 };
        var maxReceiveBuffer = new Option<int?>("--max-receive-buffer") { Description = "Most the TCP receive buffer auto-tunes to, bytes (default: TCP's)." };
        var maxSendBuffer = new Option<int?>("--max-send-buffer") { Description = "Most the TCP send buffer auto-tunes to, bytes (default: TCP's)." };
        var idleTimeout = new Option<int>("--idle-timeout") { Description = "Reset a service connection that moves no byte for N seconds (0: never).", DefaultValueFactory = _ => 300 };
        var userTimeout = new Option<int>("--user-timeout") { Description = "Drop a connection whose sent data stays unacknowledged, or queued behind a shut window, for N seconds (Linux's TCP_USER_TIMEOUT; 0: off, the retry limits decide).", DefaultValueFactory = _ => 0 };
        var orphanRetries = new Option<int?>("--orphan-retries") { Description = "Retransmissions or window probes before a connection the service has closed is dropped (Linux's tcp_orphan_retries; default: TCP's, 8)." };
        var maxConnections = new Option<int?>("--max-connections") { Description = "Most TCP connections in the stack's table, TIME-WAIT included (default: TCP's, 65,536); near it, a remote address holding many is refused before one holding few." };
        var stats = new Option<int>("--stats-interval") { Description = "Print counters every N seconds (0: only on exit).", DefaultValueFactory = _ => 0 };
        var command = new Command("serve", "Attach a stack to a TUN device and serve echo, discard, chargen, iperf3 and HTTP on its addresses.")
        {
            tun, address, mtu, offload, inboundGso, verifyChecksums, noInlineWrites, noAckFilter, outboundQueue, noGroOnWrite, noUdpGroOnWrite, pcap, echoPort, discardPort, chargenPort, iperfPort, httpPort, receiveBuffer, sendBuffer, maxReceiveBuffer, maxSendBuffer, idleTimeout, userTimeout, orphanRetries, maxConnections, stats,
        };
        // Bad values are parse errors before any device is touched.
        mtu.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 576 || v > 65535)
            {
                r.AddError("--mtu must be between 576 and 65535 (a TUN device's range; IPv6 needs at least 1280).");
            }
        });
        foreach (Option<int> port in new[] { echoPort, discardPort, chargenPort, iperfPort, httpPort })
        {
            port.Validators.Add(r =>
            {
                int v = r.GetValueOrDefault<int>();
                if (v < 0 || v > 65535)
                {
                    r.AddError($"{port.Name} must be a port (0 disables it, at most 65535).");
                }
            });
        }
        foreach (Option<int> size in new[] { receiveBuffer, sendBuffer, stats, idleTimeout, userTimeout })
        {
            bool zeroAllowed = size != receiveBuffer && size != sendBuffer;
            size.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() < (zeroAllowed ? 0 : 1))
                {
                    r.AddError($"{size.Name} must be {(zeroAllowed ? "zero or more" : "positive")}.");
                }
            });
        }
        foreach (Option<int?> size in new[] { maxReceiveBuffer, maxSendBuffer, outboundQueue, orphanRetries, maxConnections })
        {
            size.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int?>() is int v && v < 1)
                {
                    r.AddError($"{size.Name} must be positive.");
                }
            });
        }
        command.SetAction((result, cancellationToken) =>
        {
            var prefixes = new List<NetPrefix>();
            foreach (string text in result.GetValue(address) ?? [])
            {
                try
                {
                    prefixes.Add(NetPrefix.Parse(text));
                }
                catch (FormatException)
                {
                    Console.Error.WriteLine($"netstack serve: bad --address '{text}' (want e.g. 10.9.0.2/24 or fd09::2/64)");
                    return Task.FromResult(2);
                }
            }
            if (result.GetValue(mtu) < 1280 && prefixes.Exists(p => !p.Address.IsV4))
            {
                Console.Error.WriteLine("netstack serve: an IPv6 address needs --mtu 1280 or more (RFC 8200 §5)");
                return Task.FromResult(2);
            }
            var options = new ServeOptions
            {
                Tun = result.GetValue(tun)!,
                Addresses = prefixes,
                Mtu = result.GetValue(mtu),
                Offload = result.GetValue(offload) != "off",
                InboundGso = result.GetValue(inboundGso) == "split" ? InboundGsoMode.Split : InboundGsoMode.Deliver,
                TrustKernelChecksums = !result.GetValue(verifyChecksums),
                InlineWrites = !result.GetValue(noInlineWrites),
                AckFilter = !result.GetValue(noAckFilter),
                OutboundQueue = result.GetValue(outboundQueue),
                TcpGroOnWrite = !result.GetValue(noGroOnWrite),
                UdpGroOnWrite = !result.GetValue(noUdpGroOnWrite),
                Pcap = result.GetValue(pcap),
                EchoPort = result.GetValue(echoPort),
                DiscardPort = result.GetValue(discardPort),
                ChargenPort = result.GetValue(chargenPort),
                Iperf3Port = result.GetValue(iperfPort),
                HttpPort = result.GetValue(httpPort),
                ReceiveBuffer = result.GetValue(receiveBuffer),
                SendBuffer = result.GetValue(sendBuffer),
                MaxReceiveBuffer = result.GetValue(maxReceiveBuffer),
                MaxSendBuffer = result.GetValue(maxSendBuffer),
                IdleTimeout = TimeSpan.FromSeconds(result.GetValue(idleTimeout)),
                UserTimeout = TimeSpan.FromSeconds(result.GetValue(userTimeout)),
                OrphanRetries = result.GetValue(orphanRetries),
                MaxConnections = result.GetValue(maxConnections),
                StatsInterval = TimeSpan.FromSeconds(result.GetValue(stats)),
            };
            return RunAsync(options, Console.Out, cancellationToken);
        });
        return command;
    }

    /// <summary>Runs until Ctrl-C or SIGTERM, then prints the counters.</summary>
    public static async Task<int> RunAsync(ServeOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        ILoggerFactory logging = CliLogging.Factory(netStackDefault: LogLevel.Information);
        StackHost host;
        try
        {
            host = StackHost.Start(options, logging);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine($"netstack serve: {e.Message}");
            return 1;
        }
        await using (host.ConfigureAwait(false))
        {
            TunDevice device = host.Tun.Device;
            await output.WriteLineAsync(
                $"netstack serve: {device} mtu {options.Mtu}, addresses {string.Join(", ", options.Addresses)}; "
                + $"gro-on-write tcp {(host.Tun.TcpGroOnWrite ? "on" : "off")} udp {(host.Tun.UdpGroOnWrite ? "on" : "off")}; services {string.Join(", ", host.ServiceNames)}; ready").ConfigureAwait(false);
            await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                if (options.StatsInterval > TimeSpan.Zero)
                {
                    using var timer = new PeriodicTimer(options.StatsInterval);
                    while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
                    {
                        await output.WriteLineAsync(host.DescribeCounters()).ConfigureAwait(false);
                        await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                }
                await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            await output.WriteLineAsync("netstack serve: stopping").ConfigureAwait(false);
            await output.WriteLineAsync(host.DescribeCounters()).ConfigureAwait(false);
        }
        await output.WriteLineAsync($"pool after shutdown: live buffers {StackHost.Pool.LiveBuffers}").ConfigureAwait(false);
        await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }
}
