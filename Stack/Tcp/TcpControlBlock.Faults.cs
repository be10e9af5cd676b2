// Layer: transport (TCP). What a connection does when its timer's work throws (docs/ARCHITECTURE.md §6): the fault
// costs this connection, never the timer thread (an exception out of a timer callback ends the process).
using NetStack.Diagnostics;
using NetStack.Network;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>
    /// The timer's work threw (a bug, or a link endpoint that throws): counted as <see cref="StackFault.TcpTimer"/> and
    /// logged at most once a minute; the connection is then reset (RFC 9293 §3.10.5's ABORT), since its state can no
    /// longer be trusted and a timer left unarmed would leave it hanging with what it holds. The application sees
    /// <see cref="System.Net.Sockets.SocketError.ConnectionAborted"/>.
    /// </summary>
    private void OnTimerFault(Exception e)
    {
        Protocol.Stack.ReportFault(StackFault.TcpTimer, e);
        try
        {
            Abort();
        }
        catch (Exception again) when (FaultLog.Catches(again))
        {
            // The same fault once more (a link that still throws while the RST goes out): the connection is closed by
            // then, or as closed as this bug lets it be; the first fault is the one counted.
        }
    }
}
