// Layer: ASP.NET Core integration. An end point on a given stack, for Kestrel's Listen(EndPoint).
using System.Net;
using NetStack.Network;

namespace NetStack.AspNetCore;

/// <summary>
/// A TCP end point on a particular <see cref="NetworkStack"/>: <c>KestrelServerOptions.Listen(new NetStackEndPoint(stack, ip))</c>
/// serves on that stack whatever the transport's default stack is, next to socket end points on the host.
/// </summary>
public sealed class NetStackEndPoint : EndPoint
{
    /// <summary>An end point on <paramref name="stack"/>; port 0 picks a free ephemeral port at bind time.</summary>
    public NetStackEndPoint(NetworkStack stack, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(stack);
        ArgumentNullException.ThrowIfNull(endPoint);
        Stack = stack;
        IPEndPoint = endPoint;
    }

    /// <summary>The stack the end point lives on.</summary>
    public NetworkStack Stack { get; }

    /// <summary>The address and port.</summary>
    public IPEndPoint IPEndPoint { get; }

    /// <inheritdoc/>
    public override System.Net.Sockets.AddressFamily AddressFamily => IPEndPoint.AddressFamily;

    /// <summary>The address and port with a <c>netstack:</c> prefix, e.g. <c>netstack:10.0.0.2:80</c>.</summary>
    public override string ToString() => "netstack:" + IPEndPoint;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is NetStackEndPoint other && ReferenceEquals(other.Stack, Stack) && other.IPEndPoint.Equals(IPEndPoint);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Stack, IPEndPoint);
}
