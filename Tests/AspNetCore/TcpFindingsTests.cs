using System.Net;
using NetStack.Cli.Demo;
using NetStack.Tcp;

namespace NetStack.Tests.AspNetCore;

/// <summary>TCP problems the HTTP work ran into, as reproductions for the lead (skipped until TCP is fixed).</summary>
public class TcpFindingsTests
{
    /// <summary>
    /// Connection: close makes the server close first, so the server holds TIME-WAIT; a later connect that reuses
    /// the client port meets that TIME-WAIT. Each connection has a random timestamp offset, so about half the time
    /// the new SYN's TSval is below TS.Recent: PAWS drops it (RFC 7323 §5.3) and answers with an ACK, the client in
    /// SYN-SENT answers that with RST (which kills the TIME-WAIT, RFC 1337), and the connect waits one RTO (1 s)
    /// for its SYN retransmission. RFC 6191 §2 (and Linux, with per-address-pair timestamp offsets) accepts such a
    /// SYN. In `netstack demo` this turns 200 Connection: close requests from ~2500 req/s into ~180 req/s when a
    /// port repeats. Remove the Skip to reproduce (6 PAWS drops in 12 reconnects on the first try here).
    /// </summary>
    [Fact(Skip = "TCP: a SYN that meets TIME-WAIT is dropped by PAWS (random per-connection timestamp offsets; RFC 6191 not applied); the lead fixes it")]
    public async Task Reconnect_From_The_Same_Port_Into_Server_Time_Wait_Is_Not_Dropped()
    {
        await using var network = new DemoNetwork(new DemoNetworkOptions());
        using TcpConnectionListener listener = network.ServerTcp.Listen(new IPEndPoint(IPAddress.Any, 7100));
        var local = new IPEndPoint(IPAddress.Any, 40000);
        for (int i = 0; i < 12; i++)
        {
            Task<TcpConnection> accept = listener.AcceptAsync().AsTask();
            TcpConnection client = await network.ClientTcp.ConnectAsync(new IPEndPoint(DemoNetwork.ServerAddress, 7100), local: local);
            TcpConnection server = await accept;
            server.ShutdownSend(); // the server closes first and ends in TIME-WAIT
            Assert.Equal(0, await client.ReadAsync(new byte[1]));
            await client.DisposeAsync();
            await KestrelOverStackTests.WaitUntil(() => server.State == TcpState.TimeWait && network.ClientTcp.ConnectionCount == 0);
            await server.DisposeAsync();
        }
        Assert.Equal(0, network.ServerTcp.Drops[TcpDropReason.Paws]);
        Assert.Equal(0, network.ClientTcp.Drops[TcpDropReason.SynSentIgnored]);
    }
}
