// ICMP echo to other hosts through unprivileged ICMP sockets (SOCK_DGRAM + IPPROTO_ICMP/ICMPV6, Linux's "ping
// sockets", allowed where net.ipv4.ping_group_range includes our group). Where they are not allowed, requests to
// other hosts are dropped (only the gateway, the stack itself, answers) and one log line says why.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NetStack.Icmp;
using NetStack.Network;

namespace NetStack.Proxy;

/// <summary>Relays echo requests to host ICMP sockets and their replies back.</summary>
internal sealed class IcmpEchoRelay(HostForwarder owner) : IDisposable
{
    private const int MaxOutstanding = 64;
    private const int HeaderLength = 8;
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);
    private int _outstanding;
    private int _available = -1; // unknown, 0 no, 1 yes
    private int _logged;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Whether unprivileged ICMP sockets work, once tried.</summary>
    public bool? Available => Volatile.Read(ref _available) switch { 0 => false, 1 => true, _ => null };

    /// <summary>The echo hook: every request to another host is taken (relayed, or dropped when relaying is not possible).</summary>
    public bool OnEchoRequest(in IcmpEchoRequest request)
    {
        ProxyDecision decision = owner.Policy.Decide(request.Destination, 0);
        if (!decision.Allowed)
        {
            owner.Metrics.Refusals.Increment(decision.Refusal);
            return true;
        }
        if (Volatile.Read(ref _available) == 0 || Interlocked.Increment(ref _outstanding) > MaxOutstanding)
        {
            if (Volatile.Read(ref _available) != 0)
            {
                Interlocked.Decrement(ref _outstanding);
            }
            owner.Metrics.Events.Increment(ProxyEvent.EchoUnavailable);
            return true;
        }
        Socket? socket = Open(request.Destination.IsV4);
        if (socket is null)
        {
            Interlocked.Decrement(ref _outstanding);
            owner.Metrics.Events.Increment(ProxyEvent.EchoUnavailable);
            return true;
        }
        byte[] message = new byte[HeaderLength + request.DataLength];
        message[0] = request.Destination.IsV4 ? (byte)8 : (byte)128; // echo request (RFC 792; RFC 4443 §4.1)
        // Identifier: the kernel sets it to the socket's own; sequence kept. The checksum the kernel computes.
        message[6] = (byte)(request.SequenceNumber >> 8);
        message[7] = (byte)request.SequenceNumber;
        request.CopyDataTo(message.AsSpan(HeaderLength));
        _ = PingAsync(socket, message, request.Source, request.Destination, request.Identifier, request.SequenceNumber);
        return true;
    }

    private Socket? Open(bool v4)
    {
        try
        {
            Socket socket = owner.Sockets.OpenEcho(v4);
            Volatile.Write(ref _available, 1);
            return socket;
        }
        catch (SocketException e)
        {
            if (v4)
            {
                Volatile.Write(ref _available, 0);
            }
            if (Interlocked.Exchange(ref _logged, 1) == 0)
            {
                owner.Logger.LogWarning("ICMP echo to other hosts is not forwarded: unprivileged ICMP sockets are not allowed here ({Error}; see sysctl net.ipv4.ping_group_range). Only the gateway answers ping.", e.SocketErrorCode);
            }
            return null;
        }
    }

    private async Task PingAsync(Socket socket, byte[] message, NetAddress source, NetAddress destination, ushort identifier, ushort sequence)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(ReplyTimeout);
            await socket.SendToAsync(message, SocketFlags.None, new IPEndPoint(destination.ToIPAddress(), 0), timeout.Token).ConfigureAwait(false);
            owner.Metrics.Events.Increment(ProxyEvent.EchoForwarded);
            byte[] reply = new byte[message.Length + 64];
            while (true)
            {
                int n = await socket.ReceiveAsync(reply, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                // A ping socket returns the ICMP message without the IP header; only our echo's reply reaches it.
                if (n >= HeaderLength && reply[0] == (destination.IsV4 ? 0 : 129) && ((reply[6] << 8) | reply[7]) == sequence)
                {
                    owner.Stack.Icmp.SendEchoReply(destination, source, identifier, sequence, reply.AsSpan(HeaderLength, n - HeaderLength));
                    owner.Metrics.Events.Increment(ProxyEvent.EchoReplied);
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // no reply in time, or unreachable: the sandbox's ping times out as it would
        }
        finally
        {
            socket.Dispose();
            Interlocked.Decrement(ref _outstanding);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
