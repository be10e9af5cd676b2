// A real DNS server for the forwarder's DNS tests, no Internet needed: dnsmasq (installed by .ci/run) on a free
// loopback port, answering from the host's /etc/hosts (as the host's own resolver does for those names) and from
// an extra hosts file the test writes; plus the little of the DNS wire format (RFC 1035 §4) a test needs.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace NetStack.Tests.Proxy;

/// <summary>A dnsmasq process on 127.0.0.1 (UDP and TCP on one port); dispose to stop it.</summary>
internal sealed class Dnsmasq : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private Dnsmasq(Process process, string directory, IPEndPoint endPoint)
    {
        _process = process;
        _directory = directory;
        EndPoint = endPoint;
    }

    /// <summary>Where it answers.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The dnsmasq binary, or null where it is not installed.</summary>
    public static string? Binary() =>
        new[] { "/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq" }.FirstOrDefault(File.Exists);

    /// <summary>Starts dnsmasq answering from /etc/hosts and from <paramref name="extraHosts"/> (hosts(5) lines); waits until it answers.</summary>
    public static async Task<Dnsmasq> StartAsync(string binary, string extraHosts)
    {
        string directory = Directory.CreateTempSubdirectory("netstack-dnsmasq-").FullName;
        string hosts = Path.Combine(directory, "hosts");
        await File.WriteAllTextAsync(hosts, extraHosts);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, (UnixFileMode)0x1ED); // 0755: dnsmasq run as root drops to nobody before reading hosts files
            File.SetUnixFileMode(hosts, (UnixFileMode)0x1A4);     // 0644
        }
        int port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[]
        {
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-poll", "--bind-interfaces",
            "--listen-address=127.0.0.1", $"--port={port}", $"--addn-hosts={hosts}", $"--pid-file={Path.Combine(directory, "pid")}",
        })
        {
            start.ArgumentList.Add(arg);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException("dnsmasq did not start");
        var server = new Dnsmasq(process, directory, new IPEndPoint(IPAddress.Loopback, port));
        try
        {
            DateTime deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"dnsmasq exited ({process.ExitCode}): {await process.StandardError.ReadToEndAsync()}");
                }
                if (await server.TryQueryAsync("localhost") is not null || DateTime.UtcNow > deadline)
                {
                    return server;
                }
                await Task.Delay(50);
            }
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>One A query straight to the server over UDP; null when no answer came within half a second.</summary>
    private async Task<IPAddress[]?> TryQueryAsync(string name)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(EndPoint);
        await socket.SendAsync(DnsWire.Query(1, name));
        byte[] buffer = new byte[512];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        try
        {
            int n = await socket.ReceiveAsync(buffer, timeout.Token);
            return DnsWire.Addresses(buffer.AsSpan(0, n), 1);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    private static int FreePort()
    {
        // A port free for both UDP and TCP (dnsmasq takes both).
        for (int attempt = 0; ; attempt++)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }

    public void Dispose()
    {
        try
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>Builds an A query and reads the A records of an answer (RFC 1035 §4.1).</summary>
internal static class DnsWire
{
    /// <summary>A recursive query (RD) for <paramref name="name"/>'s A records, with id <paramref name="id"/>.</summary>
    public static byte[] Query(ushort id, string name)
    {
        var message = new List<byte>();
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        header[2] = 0x01; // RD
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], 1); // QDCOUNT
        message.AddRange(header.ToArray());
        foreach (string label in name.TrimEnd('.').Split('.'))
        {
            message.Add((byte)label.Length);
            message.AddRange(Encoding.ASCII.GetBytes(label));
        }
        message.AddRange(new byte[] { 0, 0, 1, 0, 1 }); // root, QTYPE A, QCLASS IN
        return [.. message];
    }

    /// <summary>The A records of the answer to query <paramref name="id"/>; throws when it is not a well-formed answer to it.</summary>
    public static IPAddress[] Addresses(ReadOnlySpan<byte> message, ushort id)
    {
        if (message.Length < 12 || BinaryPrimitives.ReadUInt16BigEndian(message) != id || (message[2] & 0x80) == 0)
        {
            throw new InvalidDataException("not an answer to the query");
        }
        int questions = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int answers = BinaryPrimitives.ReadUInt16BigEndian(message[6..]);
        int at = 12;
        for (int i = 0; i < questions; i++)
        {
            at = SkipName(message, at) + 4;
        }
        var result = new List<IPAddress>();
        for (int i = 0; i < answers; i++)
        {
            at = SkipName(message, at);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(message[at..]);
            int length = BinaryPrimitives.ReadUInt16BigEndian(message[(at + 8)..]);
            at += 10;
            if (type == 1 && length == 4)
            {
                result.Add(new IPAddress(message.Slice(at, 4)));
            }
            at += length;
        }
        return [.. result];
    }

    private static int SkipName(ReadOnlySpan<byte> message, int at)
    {
        while (true)
        {
            byte length = message[at];
            if (length == 0)
            {
                return at + 1;
            }
            if ((length & 0xC0) == 0xC0)
            {
                return at + 2; // a compression pointer ends the name (RFC 1035 §4.1.4)
            }
            at += 1 + length;
        }
    }
}
