// `netstack serve`: the UDP echo service (RFC 862).
using System.Net;
using NetStack.Network;
using NetStack.Udp;

namespace NetStack.Cli.Serve;

/// <summary>
/// RFC 862's UDP echo: every datagram received is sent back to where it came from, unless that source could reflect
/// or loop (<see cref="UdpReflection.IsUnsafeSource(IPEndPoint, NetworkStack)"/>: a privileged port such as another
/// echo or chargen, one of our own addresses, a broadcast): those are dropped and counted.
/// </summary>
public sealed class UdpEchoService : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private UdpEndpoint? _endpoint;
    private Task? _loop;
    private long _datagrams;
    private long _bytes;
    private long _refused;

    /// <summary>Port it listens on.</summary>
    public int Port { get; private set; }

    /// <summary>Datagrams echoed.</summary>
    public long Datagrams => Interlocked.Read(ref _datagrams);

    /// <summary>Datagrams not answered because their source could reflect or loop.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Binds to <paramref name="port"/> on every address of <paramref name="stack"/> and starts echoing.</summary>
    public void Start(NetworkStack stack, int port)
    {
        ArgumentNullException.ThrowIfNull(stack);
        Port = port;
        _endpoint = stack.Udp.CreateEndpoint();
        _endpoint.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        _loop = EchoAsync(stack, _endpoint, _stop.Token);
    }

    private async Task EchoAsync(NetworkStack stack, UdpEndpoint endpoint, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[65536];
        try
        {
            while (true)
            {
                UdpReceiveFromResult result = await endpoint.ReceiveFromAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (UdpReflection.IsUnsafeSource(result.RemoteEndPoint, stack))
                {
                    Interlocked.Increment(ref _refused);
                }
                else if (!result.Truncated)
                {
                    endpoint.SendTo(buffer.AsSpan(0, result.ReceivedBytes), result.RemoteEndPoint);
                    Interlocked.Increment(ref _datagrams);
                    Interlocked.Add(ref _bytes, result.ReceivedBytes);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"echo/{Port}/udp: datagrams {Datagrams}, {Interlocked.Read(ref _bytes)} B, refused {Refused}";

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _endpoint?.Dispose();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}
