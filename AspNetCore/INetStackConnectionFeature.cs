// Layer: ASP.NET Core integration. Lets an app reach the TCP connection under a request (statistics, options).
using NetStack.Tcp;

namespace NetStack.AspNetCore;

/// <summary>
/// The <see cref="TcpConnection"/> under a Kestrel connection served by the NetStack transport. Kestrel's request
/// features fall back to the connection's, so <c>HttpContext.Features.Get&lt;INetStackConnectionFeature&gt;()</c> finds it.
/// </summary>
public interface INetStackConnectionFeature
{
    /// <summary>The TCP connection; read its statistics, do not read from or write to it (the transport does).</summary>
    TcpConnection Connection { get; }
}
