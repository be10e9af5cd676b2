// Layer: transport (TCP), buffer auto-tuning. The send buffer grows to keep twice the congestion window queued
// (so the sender is never application-limited by its own buffer), the receive buffer to twice what the
// application reads in a round trip (dynamic right-sizing, as Linux's tcp_rcv_space_adjust), each up to the
// options' maximum and never shrinking. Small fixed buffers are the classic throughput cap of userspace stacks.
namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private int _receiveBufferLimit;
    private long _rcvSpaceCopied;            // bytes the application read since the measurement began
    private TimeSpan _rcvSpaceStart = Never; // when it began

    private void InitializeBuffers()
    {
        _receiveBufferLimit = Options.ReceiveBufferSize;
    }

    /// <summary>After the congestion window moved: keep room for two windows of data (Linux's tcp_sndbuf_expand).</summary>
    private void TuneSendBuffer()
    {
        if (!Options.BufferAutoTuning)
        {
            return;
        }
        if (_sender.GrowBuffer(_cc.CongestionWindow, Options.MaxSendBufferSize))
        {
            SignalWritable();
        }
    }

    /// <summary>
    /// After the application read <paramref name="copied"/> bytes: once per round trip, if it read more than half
    /// the buffer in that time, the buffer doubles that rate (so the window never limits a reader that keeps up).
    /// </summary>
    private void TuneReceiveBuffer(int copied)
    {
        if (!Options.BufferAutoTuning || _receiveBufferLimit >= Options.MaxReceiveBufferSize)
        {
            return;
        }
        TimeSpan now = Protocol.Now;
        if (_rcvSpaceStart == Never)
        {
            _rcvSpaceStart = now;
            _rcvSpaceCopied = 0;
        }
        _rcvSpaceCopied += copied;
        TimeSpan rtt = _rtt.HasSample ? _rtt.SmoothedRtt : TimeSpan.FromMilliseconds(1);
        if (rtt < TimeSpan.FromMilliseconds(1))
        {
            rtt = TimeSpan.FromMilliseconds(1); // measure over at least a millisecond: scheduling noise below that
        }
        if (now - _rcvSpaceStart < rtt)
        {
            return;
        }
        if (2 * _rcvSpaceCopied > _receiveBufferLimit)
        {
            _receiveBufferLimit = (int)Math.Min(Math.Max(2 * _rcvSpaceCopied, (long)_receiveBufferLimit * 2), Options.MaxReceiveBufferSize);
            Protocol.Events.Increment(TcpEvent.ReceiveBufferGrown);
        }
        _rcvSpaceStart = now;
        _rcvSpaceCopied = 0;
    }
}
