// The host's DNS resolvers, read from resolv.conf(5)'s "nameserver" lines, for the DNS forwarder.
using System.Net;

namespace NetStack.Proxy;

/// <summary>Reads resolvers from a resolv.conf file.</summary>
public static class ResolvConf
{
    /// <summary>The nameservers of <paramref name="path"/> (port 53), in order; loopback stub resolvers included (the host socket reaches them). Empty when the file is missing.</summary>
    public static IReadOnlyList<IPEndPoint> Read(string path = "/etc/resolv.conf")
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The nameservers named in <paramref name="text"/>; malformed lines are skipped.</summary>
    public static IReadOnlyList<IPEndPoint> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<IPEndPoint>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (!line.StartsWith("nameserver", StringComparison.Ordinal))
            {
                continue;
            }
            string[] words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            // A link-local IPv6 resolver may carry a zone (fe80::1%eth0); IPAddress.TryParse takes it.
            if (words.Length >= 2 && words[0] == "nameserver" && IPAddress.TryParse(words[1], out IPAddress? address))
            {
                result.Add(new IPEndPoint(address, 53));
            }
        }
        return result;
    }
}
