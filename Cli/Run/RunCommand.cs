// `netstack run [options] [--] CMD [ARGS…]`: the command line. Options are checked while parsing (before any
// namespace exists); CMD and everything after it belong to CMD, with or without the `--`.
using System.CommandLine;
using System.CommandLine.Parsing;
using NetStack.Link.Simulation;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>The <c>run</c> subcommand.</summary>
internal static class RunCommand
{
    /// <summary>Exit status of `netstack run` when it fails itself (as env(1) and timeout(1) use 125).</summary>
    public const int FailureStatus = 125;

    public static Command Create()
    {
        var defaults = new SandboxAddresses();
        var mtu = new Option<int>("--mtu") { Description = "MTU of the sandbox's link (576-65535; 1280+ with IPv6).", DefaultValueFactory = _ => 65520 };
        var address = new Option<string>("--address") { Description = $"The sandbox's IPv4 address and prefix (default {defaults.Sandbox4})." };
        var gateway = new Option<string>("--gateway") { Description = $"The gateway's IPv4 address: our stack, the default route (default {defaults.Gateway4})." };
        var dns = new Option<string>("--dns") { Description = $"The IPv4 DNS address in the sandbox's /etc/resolv.conf (default {defaults.Dns4})." };
        var address6 = new Option<string>("--address6") { Description = $"The sandbox's IPv6 address and prefix (default {defaults.Sandbox6})." };
        var gateway6 = new Option<string>("--gateway6") { Description = $"The IPv6 gateway (default {defaults.Gateway6})." };
        var dns6 = new Option<string>("--dns6") { Description = $"The IPv6 DNS address (default {defaults.Dns6})." };
        var noIpv6 = new Option<bool>("--no-ipv6") { Description = "IPv4 only." };
        var offload = new Option<string>("--offload") { Description = "auto: virtio header with TSO/USO, each falling back when refused; off: a plain TUN.", DefaultValueFactory = _ => "auto" };
        offload.AcceptOnlyFromAmong("auto", "off");
        var tunName = new Option<string>("--tun-name") { Description = "Name of the TUN device in the namespace.", DefaultValueFactory = _ => "tun0" };
        var uidMap = new Option<bool>("--uid-map") { Description = "Also map your subordinate uids and gids (/etc/subuid, /etc/subgid) through newuidmap/newgidmap; by default only you are mapped, to root." };
        var loss = new Option<string>("--loss") { Description = "Packets lost at random: 1% both ways, or up=1%,down=0.1% (up: sandbox → host)." };
        var delay = new Option<string>("--delay") { Description = "Delay added each way: 50ms (the round trip grows by twice that), or up=…,down=…." };
        var jitter = new Option<string>("--jitter") { Description = "Random variation of the delay, uniform ±: 10ms, or up=…,down=…." };
        var rate = new Option<string>("--rate") { Description = "Bottleneck rate: 100mbit, 1gbit, 10mbps (bytes), or up=…,down=…." };
        var reorder = new Option<string>("--reorder") { Description = "Packets held back 10 ms so later ones overtake them: 1%, or up=…,down=…." };
        var duplicate = new Option<string>("--duplicate") { Description = "Packets sent twice: 1%, or up=…,down=…." };
        var seed = new Option<int>("--seed") { Description = "Seed of the impairments (the same seed, the same drops).", DefaultValueFactory = _ => 1 };
        var pcap = new Option<string?>("--pcap") { Description = "Capture the sandbox's traffic into this file (pcap, raw IP; opens in Wireshark)." };
        var stats = new Option<bool>("--stats") { Description = "Print the counters on standard error when CMD exits." };
        var attach = new Option<int?>("--attach") { Description = "Network the namespaces of this running process instead of starting CMD (as slirp4netns PID); runs until it exits." };
        var allowHostLoopback = new Option<bool>("--allow-host-loopback") { Description = "Connections to the gateway reach the host's loopback (forwarder)." };
        var tcp = new Option<string[]>("--tcp", "-t") { Description = "Forward [ADDR:]HOSTPORT:PORT from the host into the sandbox, TCP (forwarder; repeatable).", AllowMultipleArgumentsPerToken = false };
        var udp = new Option<string[]>("--udp", "-u") { Description = "The same for UDP (forwarder; repeatable).", AllowMultipleArgumentsPerToken = false };
        var allow = new Option<string[]>("--allow") { Description = "Allow destinations PREFIX[:PORT] the default policy refuses (forwarder; repeatable).", AllowMultipleArgumentsPerToken = false };
        var deny = new Option<string[]>("--deny") { Description = "Refuse destinations PREFIX[:PORT] (forwarder; repeatable).", AllowMultipleArgumentsPerToken = false };
        var commandLine = new Argument<string[]>("CMD") { Description = "The command and its arguments.", Arity = ArgumentArity.ZeroOrMore };

        var command = new Command("run", "Run CMD as you, in new user, network and mount namespaces whose only link is a TUN device served by this process (rootless, like slirp4netns or pasta), with optional impairments.")
        {
            mtu, address, gateway, dns, address6, gateway6, dns6, noIpv6, offload, tunName, uidMap,
            loss, delay, jitter, rate, reorder, duplicate, seed, pcap, stats, attach,
            allowHostLoopback, tcp, udp, allow, deny, commandLine,
        };

        mtu.Validators.Add(r => Check(r, r.GetValueOrDefault<int>() is >= 576 and <= 65535 ? null : "must be between 576 and 65535 (a TUN device's range; IPv6 needs at least 1280)"));
        tunName.Validators.Add(r => Check(r, r.GetValueOrDefault<string>() is { Length: > 0 and < 16 } n && !n.Contains('/', StringComparison.Ordinal) && !n.Any(char.IsWhiteSpace) ? null : "must be 1 to 15 characters, no '/' or spaces"));
        foreach (Option<string> prefix in new[] { address, address6 })
        {
            prefix.Validators.Add(r => Check(r, RunOptionParsers.TryParsePrefix(r.GetValueOrDefault<string>() ?? "", out _)));
        }
        foreach (Option<string> host in new[] { gateway, dns, gateway6, dns6 })
        {
            host.Validators.Add(r => Check(r, RunOptionParsers.TryParseAddress(r.GetValueOrDefault<string>() ?? "", out _)));
        }
        foreach (Option<string> percent in new[] { loss, reorder, duplicate })
        {
            percent.Validators.Add(r => Check(r, RunOptionParsers.TryParseDirectional<double>(r.GetValueOrDefault<string>() ?? "", RunOptionParsers.TryParsePercent, out _)));
        }
        foreach (Option<string> duration in new[] { delay, jitter })
        {
            duration.Validators.Add(r => Check(r, RunOptionParsers.TryParseDirectional<TimeSpan>(r.GetValueOrDefault<string>() ?? "", RunOptionParsers.TryParseDuration, out _)));
        }
        rate.Validators.Add(r => Check(r, RunOptionParsers.TryParseDirectional<long>(r.GetValueOrDefault<string>() ?? "", RunOptionParsers.TryParseRate, out _)));
        attach.Validators.Add(r => Check(r, r.GetValueOrDefault<int?>() is > 0 ? null : "must be a process id"));
        tcp.Validators.Add(r => CheckAll(r, text => RunOptionParsers.TryParsePortForward(text, ForwardProtocol.Tcp, out _)));
        udp.Validators.Add(r => CheckAll(r, text => RunOptionParsers.TryParsePortForward(text, ForwardProtocol.Udp, out _)));
        allow.Validators.Add(r => CheckAll(r, text => RunOptionParsers.TryParseAddressRule(text, out _)));
        deny.Validators.Add(r => CheckAll(r, text => RunOptionParsers.TryParseAddressRule(text, out _)));
        command.Validators.Add(r =>
        {
            bool hasCommand = r.GetValue(commandLine) is { Length: > 0 };
            if (r.GetValue(attach) is not null ? hasCommand : !hasCommand)
            {
                r.AddError(hasCommand ? "netstack run: --attach PID takes no CMD" : "netstack run: CMD is missing (netstack run [options] [--] CMD [ARGS…])");
            }
        });

        command.SetAction(result =>
        {
            SandboxAddresses addresses = Addresses(result, defaults, address, gateway, dns, address6, gateway6, dns6, noIpv6);
            if (addresses.Check() is { } problem)
            {
                Console.Error.WriteLine($"netstack run: {problem}");
                return FailureStatus;
            }
            if (addresses.Ipv6 && result.GetValue(mtu) < 1280)
            {
                Console.Error.WriteLine("netstack run: IPv6 needs --mtu 1280 or more (RFC 8200 §5); add --no-ipv6 for a smaller MTU");
                return FailureStatus;
            }
            var options = new RunOptions
            {
                Command = result.GetValue(commandLine) ?? [],
                AttachPid = result.GetValue(attach),
                Addresses = addresses,
                Mtu = result.GetValue(mtu),
                Offload = result.GetValue(offload) != "off",
                TunName = result.GetValue(tunName)!,
                SubordinateIdMap = result.GetValue(uidMap),
                Impairments = Impairments(result, loss, delay, jitter, rate, reorder, duplicate, seed),
                Pcap = result.GetValue(pcap),
                Stats = result.GetValue(stats),
                Forwarding = new ForwardingOptions
                {
                    AllowHostLoopback = result.GetValue(allowHostLoopback),
                    PortForwards = [.. Parsed(result.GetValue(tcp), t => (RunOptionParsers.TryParsePortForward(t, ForwardProtocol.Tcp, out PortForward f), f)),
                        .. Parsed(result.GetValue(udp), t => (RunOptionParsers.TryParsePortForward(t, ForwardProtocol.Udp, out PortForward f), f))],
                    Allow = Parsed(result.GetValue(allow), t => (RunOptionParsers.TryParseAddressRule(t, out AddressRule a), a)),
                    Deny = Parsed(result.GetValue(deny), t => (RunOptionParsers.TryParseAddressRule(t, out AddressRule a), a)),
                },
            };
            return SandboxRunner.Run(options, Console.Error);
        });
        return command;
    }

    /// <summary>
    /// Puts a <c>--</c> before CMD when the caller left it out, so that CMD's own options (<c>curl -u user</c>) are
    /// not read as ours: the first token of <c>run</c>'s arguments that is neither one of its options nor an
    /// option's value starts CMD.
    /// </summary>
    public static string[] SeparateCommand(Command run, string[] args)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] != run.Name)
        {
            return args;
        }
        int first = FirstPositional(run, args, 1);
        return first >= args.Length || args[first] == "--" ? args : [.. args[..first], "--", .. args[first..]];
    }

    private static int FirstPositional(Command run, string[] args, int from)
    {
        for (int i = from; i < args.Length; i++)
        {
            string token = args[i];
            if (token == "--")
            {
                return i;
            }
            if (!token.StartsWith('-') || token == "-")
            {
                return i;
            }
            string name = token.Split('=', 2)[0];
            Option? option = run.Options.Concat(run.Parents.OfType<Command>().SelectMany(p => p.Options).Where(o => o.Recursive)).FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));
            if (option is null || token.Contains('=', StringComparison.Ordinal) || option.Arity.MaximumNumberOfValues == 0 || i + 1 >= args.Length)
            {
                continue;
            }
            string next = args[i + 1];
            if (option.Arity.MinimumNumberOfValues > 0 || next is "true" or "false")
            {
                i++; // its value (a flag takes one only when it is true or false)
            }
        }
        return args.Length;
    }

    private static void Check(OptionResult result, string? error)
    {
        if (error is not null)
        {
            result.AddError($"{result.Option.Name}: {error}");
        }
    }

    private static void CheckAll(OptionResult result, Func<string, string?> parse)
    {
        foreach (string text in result.GetValueOrDefault<string[]>() ?? [])
        {
            Check(result, parse(text));
        }
    }

    private static List<T> Parsed<T>(string[]? texts, Func<string, (string? Error, T Value)> parse) =>
        [.. (texts ?? []).Select(t => parse(t).Value)];

    private static SandboxAddresses Addresses(ParseResult result, SandboxAddresses defaults, Option<string> address, Option<string> gateway, Option<string> dns,
        Option<string> address6, Option<string> gateway6, Option<string> dns6, Option<bool> noIpv6)
    {
        return new SandboxAddresses
        {
            Sandbox4 = Prefix(result.GetValue(address), defaults.Sandbox4),
            Gateway4 = Host(result.GetValue(gateway), defaults.Gateway4),
            Dns4 = Host(result.GetValue(dns), defaults.Dns4),
            Ipv6 = !result.GetValue(noIpv6),
            Sandbox6 = Prefix(result.GetValue(address6), defaults.Sandbox6),
            Gateway6 = Host(result.GetValue(gateway6), defaults.Gateway6),
            Dns6 = Host(result.GetValue(dns6), defaults.Dns6),
        };

        static NetPrefix Prefix(string? text, NetPrefix fallback) =>
            text is not null && RunOptionParsers.TryParsePrefix(text, out NetPrefix p) is null ? p : fallback;

        static NetAddress Host(string? text, NetAddress fallback) =>
            text is not null && RunOptionParsers.TryParseAddress(text, out NetAddress a) is null ? a : fallback;
    }

    private static LinkImpairments Impairments(ParseResult result, Option<string> loss, Option<string> delay, Option<string> jitter, Option<string> rate,
        Option<string> reorder, Option<string> duplicate, Option<int> seed)
    {
        Directional<double> lossValue = Percent(loss), reorderValue = Percent(reorder), duplicateValue = Percent(duplicate);
        Directional<TimeSpan> delayValue = Duration(delay), jitterValue = Duration(jitter);
        Directional<long> rateValue = default;
        if (result.GetValue(rate) is { } rateText)
        {
            _ = RunOptionParsers.TryParseDirectional<long>(rateText, RunOptionParsers.TryParseRate, out rateValue);
        }
        return new LinkImpairments
        {
            Up = Direction(lossValue.Up, delayValue.Up, jitterValue.Up, rateValue.Up, reorderValue.Up, duplicateValue.Up),
            Down = Direction(lossValue.Down, delayValue.Down, jitterValue.Down, rateValue.Down, reorderValue.Down, duplicateValue.Down),
            Seed = result.GetValue(seed),
        };

        Directional<double> Percent(Option<string> option)
        {
            Directional<double> value = default;
            if (result.GetValue(option) is { } text)
            {
                _ = RunOptionParsers.TryParseDirectional<double>(text, RunOptionParsers.TryParsePercent, out value);
            }
            return value;
        }

        Directional<TimeSpan> Duration(Option<string> option)
        {
            Directional<TimeSpan> value = default;
            if (result.GetValue(option) is { } text)
            {
                _ = RunOptionParsers.TryParseDirectional<TimeSpan>(text, RunOptionParsers.TryParseDuration, out value);
            }
            return value;
        }
    }

    /// <summary>One direction's impairments, or null when nothing is asked of it.</summary>
    internal static ImpairmentOptions? Direction(double? loss, TimeSpan? delay, TimeSpan? jitter, long? rate, double? reorder, double? duplicate)
    {
        var options = new ImpairmentOptions
        {
            LossPercent = loss ?? 0,
            Delay = delay ?? TimeSpan.Zero,
            Jitter = jitter ?? TimeSpan.Zero,
            RateBitsPerSecond = rate ?? 0,
            ReorderPercent = reorder ?? 0,
            DuplicatePercent = duplicate ?? 0,
        };
        return options.IsTransparent ? null : options;
    }
}
