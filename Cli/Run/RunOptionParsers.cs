// `netstack run`: the option value grammars: percentages, durations and rates, each for both directions or one
// ("1%", "up=1%,down=0.1%"), port forwards ([ADDR:]HOSTPORT:PORT) and address rules (PREFIX[:PORT]). Each parser
// returns null on success or the error text, and never throws on bad input.
using System.Globalization;
using NetStack.Network;

namespace NetStack.Cli.Run;

/// <summary>A value for each direction of the link (null: that direction is not set).</summary>
public readonly record struct Directional<T>(T? Up, T? Down)
    where T : struct;

/// <summary>Parsers of `netstack run`'s option values.</summary>
public static class RunOptionParsers
{
    /// <summary>
    /// "VALUE" (both directions), or "up=VALUE", "down=VALUE" or both, comma-separated (up is sandbox → host).
    /// </summary>
    public static string? TryParseDirectional<T>(string text, TryParseValue<T> parse, out Directional<T> value)
        where T : struct
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(parse);
        value = default;
        if (!text.Contains('=', StringComparison.Ordinal))
        {
            if (parse(text.Trim(), out T both) is { } error)
            {
                return error;
            }
            value = new Directional<T>(both, both);
            return null;
        }
        T? up = null, down = null;
        foreach (string part in text.Split(','))
        {
            int equals = part.IndexOf('=', StringComparison.Ordinal);
            string key = equals < 0 ? part.Trim() : part[..equals].Trim();
            if (equals < 0 || (key != "up" && key != "down"))
            {
                return $"'{part}': want VALUE, or up=VALUE and/or down=VALUE separated by a comma";
            }
            if (parse(part[(equals + 1)..].Trim(), out T parsed) is { } error)
            {
                return error;
            }
            if ((key == "up" ? up : down) is not null)
            {
                return $"'{key}' given twice";
            }
            if (key == "up")
            {
                up = parsed;
            }
            else
            {
                down = parsed;
            }
        }
        value = new Directional<T>(up, down);
        return null;
    }

    /// <summary>A parser of one value: null on success, else the error text.</summary>
    public delegate string? TryParseValue<T>(string text, out T value);

    /// <summary>A percentage of packets, "1%", "0.1%" or "5" (0 to 100).</summary>
    public static string? TryParsePercent(string text, out double percent)
    {
        ArgumentNullException.ThrowIfNull(text);
        string number = text.EndsWith('%') ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out percent) || !(percent >= 0 && percent <= 100))
        {
            return $"'{text}' is not a percentage between 0% and 100%";
        }
        return null;
    }

    /// <summary>A duration: "100ms", "1.5s", "250us"; a bare number is milliseconds (as netem's figures are read).</summary>
    public static string? TryParseDuration(string text, out TimeSpan duration)
    {
        ArgumentNullException.ThrowIfNull(text);
        duration = TimeSpan.Zero;
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (text[..^2], 1e-3),
            _ when text.EndsWith("us", StringComparison.OrdinalIgnoreCase) => (text[..^2], 1e-6),
            _ when text.EndsWith('s') || text.EndsWith('S') => (text[..^1], 1.0),
            _ => (text, 1e-3),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value >= 0 && value * scale <= 3600))
        {
            return $"'{text}' is not a duration such as 100ms, 1.5s or 250us (at most an hour)";
        }
        duration = TimeSpan.FromTicks((long)Math.Round(value * scale * TimeSpan.TicksPerSecond));
        return null;
    }

    /// <summary>
    /// A rate as tc writes it: "10mbit", "1gbit", "500kbit", "64000bit" (bits per second, decimal multiples), or
    /// "10mbps", "1gbps", "kbps", "bps" (bytes per second); a bare number is bits per second.
    /// </summary>
    public static string? TryParseRate(string text, out long bitsPerSecond)
    {
        ArgumentNullException.ThrowIfNull(text);
        bitsPerSecond = 0;
        string lower = text.ToLowerInvariant();
        (string suffix, double multiplier)[] units =
        [
            ("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1),
            ("gbps", 8e9), ("mbps", 8e6), ("kbps", 8e3), ("bps", 8),
        ];
        string number = lower;
        double scale = 1;
        foreach ((string suffix, double multiplier) in units)
        {
            if (lower.EndsWith(suffix, StringComparison.Ordinal))
            {
                number = lower[..^suffix.Length];
                scale = multiplier;
                break;
            }
        }
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || value * scale > 1e12 || value * scale < 1)
        {
            return $"'{text}' is not a rate such as 10mbit, 1gbit or 500kbps (at most 1000gbit)";
        }
        bitsPerSecond = (long)(value * scale);
        return null;
    }

    /// <summary>A port, 1 to 65535.</summary>
    public static string? TryParsePort(string text, out int port)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port < 1 || port > 65535)
        {
            return $"'{text}' is not a port (1 to 65535)";
        }
        return null;
    }

    /// <summary>An address, IPv6 with or without brackets.</summary>
    public static string? TryParseAddress(string text, out NetAddress address)
    {
        ArgumentNullException.ThrowIfNull(text);
        string bare = text.StartsWith('[') && text.EndsWith(']') ? text[1..^1] : text;
        address = default;
        if (!System.Net.IPAddress.TryParse(bare, out System.Net.IPAddress? ip) || bare.Contains('%', StringComparison.Ordinal))
        {
            return $"'{text}' is not an IPv4 or IPv6 address";
        }
        address = NetAddress.FromIPAddress(ip);
        return null;
    }

    /// <summary>An address with a prefix length, "10.0.2.100/24" or "fd00::100/64".</summary>
    public static string? TryParsePrefix(string text, out NetPrefix prefix)
    {
        ArgumentNullException.ThrowIfNull(text);
        prefix = default;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (TryParseAddress(slash < 0 ? text : text[..slash], out NetAddress address) is { } error)
        {
            return error;
        }
        int length = address.Length * 8;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > address.Length * 8))
        {
            return $"'{text}': the prefix length must be 0 to {address.Length * 8}";
        }
        prefix = new NetPrefix(address, length);
        return null;
    }

    /// <summary>
    /// A port forward, "[ADDR:]HOSTPORT:PORT" (pasta's <c>-t</c>/<c>-u</c>): the host listens on ADDR (loopback when
    /// omitted) port HOSTPORT and connects into the sandbox's PORT. An IPv6 ADDR is written in brackets.
    /// </summary>
    public static string? TryParsePortForward(string text, ForwardProtocol protocol, out PortForward forward)
    {
        ArgumentNullException.ThrowIfNull(text);
        forward = null!;
        string addressPart = "";
        string rest = text;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return $"'{text}': want [ADDR:]HOSTPORT:PORT, an IPv6 ADDR in brackets";
            }
            addressPart = text[..(close + 1)];
            rest = text[(close + 2)..];
        }
        string[] parts = rest.Split(':');
        if (addressPart.Length == 0 && parts.Length == 3)
        {
            addressPart = parts[0];
            parts = parts[1..];
        }
        if (parts.Length != 2)
        {
            return $"'{text}': want [ADDR:]HOSTPORT:PORT";
        }
        NetAddress? address = null;
        if (addressPart.Length > 0)
        {
            if (TryParseAddress(addressPart, out NetAddress parsed) is { } error)
            {
                return error;
            }
            address = parsed;
        }
        if ((TryParsePort(parts[0], out int hostPort) ?? TryParsePort(parts[1], out _)) is { } portError)
        {
            return $"'{text}': {portError}";
        }
        _ = TryParsePort(parts[1], out int sandboxPort);
        forward = new PortForward(protocol, address, hostPort, sandboxPort);
        return null;
    }

    /// <summary>An address rule, "PREFIX" or "PREFIX:PORT" (IPv6: "[PREFIX]:PORT").</summary>
    public static string? TryParseAddressRule(string text, out AddressRule rule)
    {
        ArgumentNullException.ThrowIfNull(text);
        rule = null!;
        string prefixText = text;
        string? portText = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || (close + 1 < text.Length && text[close + 1] != ':'))
            {
                return $"'{text}': want PREFIX[:PORT], an IPv6 PREFIX in brackets when a port follows";
            }
            prefixText = text[1..close];
            portText = close + 1 < text.Length ? text[(close + 2)..] : null;
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            prefixText = text[..colon];
            portText = text[(colon + 1)..];
        }
        if (TryParsePrefix(prefixText, out NetPrefix prefix) is { } error)
        {
            return error;
        }
        int? port = null;
        if (portText is not null)
        {
            if (TryParsePort(portText, out int parsed) is { } portError)
            {
                return $"'{text}': {portError}";
            }
            port = parsed;
        }
        rule = new AddressRule(prefix, port);
        return null;
    }
}
