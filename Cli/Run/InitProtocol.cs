// `netstack run`: the conversation between the host side and the namespace-side init over their SOCK_SEQPACKET
// socket pair, one datagram per message, UTF-8 text whose first line names it:
//   init → host  "hello"                    the init runs inside the new namespaces (the host may write the id maps)
//   host → init  "config" + key=value lines what to set up (InitConfig)
//   init → host  "tun" + its name, with the TUN fd attached (SCM_RIGHTS), or "error" + the text to print
//   host → init  "go"                       the stack is running: exec CMD (with --attach: exit)
using System.Globalization;
using System.Text;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>What the init sets up inside the namespace.</summary>
internal sealed record InitConfig
{
    public required string TunName { get; init; }

    public int Mtu { get; init; } = 65520;

    /// <summary>Open the TUN device with the virtio header (falling back to a plain one when refused).</summary>
    public bool Offload { get; init; } = true;

    public required NetPrefix Sandbox4 { get; init; }

    public required NetAddress Gateway4 { get; init; }

    /// <summary>The IPv6 address and gateway, or null for IPv4 only.</summary>
    public NetPrefix? Sandbox6 { get; init; }

    public NetAddress? Gateway6 { get; init; }

    /// <summary>Name servers for the sandbox's /etc/resolv.conf.</summary>
    public IReadOnlyList<NetAddress> Dns { get; init; } = [];

    /// <summary>Bind-mount a resolv.conf naming <see cref="Dns"/> over /etc/resolv.conf (in the init's own mount namespace only).</summary>
    public bool ResolvConf { get; init; }

    /// <summary>The host process, the init's parent (0 with --attach): the init dies with it (PR_SET_PDEATHSIG).</summary>
    public int ParentPid { get; init; }

    /// <summary>The config message.</summary>
    public byte[] Encode()
    {
        var text = new StringBuilder("config\n");
        Line("tun", TunName);
        Line("mtu", Mtu.ToString(CultureInfo.InvariantCulture));
        Line("offload", Offload ? "1" : "0");
        Line("address4", Sandbox4.ToString());
        Line("gateway4", Gateway4.ToString());
        if (Sandbox6 is { } sandbox6 && Gateway6 is { } gateway6)
        {
            Line("address6", sandbox6.ToString());
            Line("gateway6", gateway6.ToString());
        }
        foreach (NetAddress dns in Dns)
        {
            Line("dns", dns.ToString());
        }
        Line("resolv", ResolvConf ? "1" : "0");
        Line("parent", ParentPid.ToString(CultureInfo.InvariantCulture));
        return Encoding.UTF8.GetBytes(text.ToString());

        void Line(string key, string value) => text.Append(key).Append('=').Append(value).Append('\n');
    }

    /// <summary>Reads a config message (what <see cref="Encode"/> wrote); throws <see cref="FormatException"/> on anything else.</summary>
    public static InitConfig Decode(ReadOnlySpan<byte> message)
    {
        string[] lines = Encoding.UTF8.GetString(message).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0] != "config")
        {
            throw new FormatException("not a config message");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var dns = new List<NetAddress>();
        foreach (string line in lines.AsSpan(1))
        {
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"bad config line '{line}'");
            }
            string key = line[..equals], value = line[(equals + 1)..];
            if (key == "dns")
            {
                dns.Add(NetAddress.Parse(value));
            }
            else
            {
                values[key] = value;
            }
        }
        return new InitConfig
        {
            TunName = values["tun"],
            Mtu = int.Parse(values["mtu"], CultureInfo.InvariantCulture),
            Offload = values["offload"] == "1",
            Sandbox4 = NetPrefix.Parse(values["address4"]),
            Gateway4 = NetAddress.Parse(values["gateway4"]),
            Sandbox6 = values.TryGetValue("address6", out string? a6) ? NetPrefix.Parse(a6) : null,
            Gateway6 = values.TryGetValue("gateway6", out string? g6) ? NetAddress.Parse(g6) : null,
            Dns = dns,
            ResolvConf = values["resolv"] == "1",
            ParentPid = int.Parse(values["parent"], CultureInfo.InvariantCulture),
        };
    }
}

/// <summary>The short messages of the conversation.</summary>
internal static class InitMessage
{
    public const string Hello = "hello";
    public const string Tun = "tun";
    public const string Error = "error";
    public const string Go = "go";

    /// <summary>Most bytes a message may have.</summary>
    public const int MaxLength = 4096;

    public static byte[] Encode(string kind, string? text = null) =>
        Encoding.UTF8.GetBytes(text is null ? kind : kind + "\n" + text);

    /// <summary>Splits a message into its kind (first line) and the rest.</summary>
    public static (string Kind, string Text) Decode(ReadOnlySpan<byte> message)
    {
        string all = Encoding.UTF8.GetString(message);
        int newline = all.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? (all, "") : (all[..newline], all[(newline + 1)..]);
    }
}
