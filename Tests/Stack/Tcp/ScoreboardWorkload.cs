// A steady stream of ACKs against a SACK scoreboard holding a fixed number of records, each ACK doing what a
// recovery does — a SACK edge that splits a record, a loss mark, the retransmission of the first lost run, RACK's
// query, new data at the tail, a cumulative ACK — at scattered places. Run against the tree (SackScoreboard) and
// the array it replaced (ArraySackScoreboard) by SackScoreboardTests (work counted) and, linked into Bench, by
// SackScoreboardBenchmarks (time).
using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>The scoreboard operations the workload uses, as static members so that each board's calls compile direct.</summary>
internal interface IScoreboardOperations<TBoard>
{
    static abstract TBoard Create();

    static abstract int Count(TBoard board);

    static abstract long Work(TBoard board);

    static abstract void Append(TBoard board, SequenceNumber start, int length, long sentAt, int segmentSize);

    static abstract void Sack(TBoard board, SequenceNumber left, SequenceNumber right, ref DeliveryInfo info);

    static abstract void AckUpTo(TBoard board, SequenceNumber ack, ref DeliveryInfo info);

    static abstract void MarkLostRange(TBoard board, SequenceNumber start, SequenceNumber end);

    static abstract bool TryGetLostRun(TBoard board, int maxLength, out SequenceNumber start, out int length);

    static abstract void Retransmitted(TBoard board, SequenceNumber start, int length, long sentAt, int segmentSize);

    static abstract bool MarkLostSentBefore(TBoard board, long order, SequenceNumber end, long expiredAt);
}

/// <summary>The tree.</summary>
internal readonly struct TreeScoreboard : IScoreboardOperations<SackScoreboard>
{
    public static SackScoreboard Create() => new(seed: 12345);

    public static int Count(SackScoreboard board) => board.Count;

    public static long Work(SackScoreboard board) => board.Work;

    public static void Append(SackScoreboard board, SequenceNumber start, int length, long sentAt, int segmentSize) => board.Append(start, length, sentAt, fin: false, segmentSize);

    public static void Sack(SackScoreboard board, SequenceNumber left, SequenceNumber right, ref DeliveryInfo info) => board.Sack(left, right, ref info);

    public static void AckUpTo(SackScoreboard board, SequenceNumber ack, ref DeliveryInfo info) => board.AckUpTo(ack, ref info);

    public static void MarkLostRange(SackScoreboard board, SequenceNumber start, SequenceNumber end) => board.MarkLostRange(start, end);

    public static bool TryGetLostRun(SackScoreboard board, int maxLength, out SequenceNumber start, out int length) => board.TryGetLostRun(maxLength, out start, out length, out _);

    public static void Retransmitted(SackScoreboard board, SequenceNumber start, int length, long sentAt, int segmentSize) => board.Retransmitted(start, length, sentAt, segmentSize);

    public static bool MarkLostSentBefore(SackScoreboard board, long order, SequenceNumber end, long expiredAt) => board.MarkLostSentBefore(order, end, expiredAt, out _);
}

/// <summary>The array the tree replaced.</summary>
internal readonly struct ArrayScoreboard : IScoreboardOperations<ArraySackScoreboard>
{
    public static ArraySackScoreboard Create() => new();

    public static int Count(ArraySackScoreboard board) => board.Count;

    public static long Work(ArraySackScoreboard board) => board.Work;

    public static void Append(ArraySackScoreboard board, SequenceNumber start, int length, long sentAt, int segmentSize) => board.Append(start, length, sentAt, fin: false, segmentSize);

    public static void Sack(ArraySackScoreboard board, SequenceNumber left, SequenceNumber right, ref DeliveryInfo info) => board.Sack(left, right, ref info);

    public static void AckUpTo(ArraySackScoreboard board, SequenceNumber ack, ref DeliveryInfo info) => board.AckUpTo(ack, ref info);

    public static void MarkLostRange(ArraySackScoreboard board, SequenceNumber start, SequenceNumber end) => board.MarkLostRange(start, end);

    public static bool TryGetLostRun(ArraySackScoreboard board, int maxLength, out SequenceNumber start, out int length) => board.TryGetLostRun(maxLength, out start, out length, out _);

    public static void Retransmitted(ArraySackScoreboard board, SequenceNumber start, int length, long sentAt, int segmentSize) => board.Retransmitted(start, length, sentAt, segmentSize);

    public static bool MarkLostSentBefore(ArraySackScoreboard board, long order, SequenceNumber end, long expiredAt) => board.MarkLostSentBefore(order, end, expiredAt, out _);
}

/// <summary>
/// The workload: <see cref="Records"/> records of two segments each, then per <see cref="Ack"/> a SACK of the
/// second segment of one record (a split), a loss mark of a whole other record and the retransmission of the
/// first lost run, RACK's query below the SACKed record, one new record, and cumulative ACKs of the oldest records
/// until the count is back at <see cref="Records"/>. The places are scattered over the board by a fixed stride.
/// </summary>
internal sealed class ScoreboardWorkload<TBoard, TOperations>
    where TOperations : struct, IScoreboardOperations<TBoard>
{
    private const int Mss = 100;
    private const long Base = 1000;

    private readonly int _records;
    private int _head;  // the oldest record of the grid still held (At(_head) is SND.UNA)
    private int _tail;  // the next record of the grid to send
    private long _time;
    private long _acks;

    public ScoreboardWorkload(int records)
    {
        _records = records;
        Board = TOperations.Create();
        for (; _tail < records; _tail++)
        {
            TOperations.Append(Board, At(_tail), 2 * Mss, ++_time, Mss);
        }
    }

    public TBoard Board { get; }

    /// <summary>Records held after each ACK.</summary>
    public int Records => _records;

    /// <summary>One ACK's work.</summary>
    public void Ack()
    {
        long now = ++_time;
        long span = _tail - _head - 1;
        int sacked = _head + 1 + (int)(_acks * 48271 % span);
        int lost = _head + 1 + (int)(((_acks * 16807) + (span / 2)) % span);
        _acks++;
        DeliveryInfo info = default;
        TOperations.Sack(Board, At(sacked) + Mss, At(sacked + 1), ref info);
        TOperations.MarkLostRange(Board, At(lost), At(lost + 1));
        if (TOperations.TryGetLostRun(Board, 2 * Mss, out SequenceNumber start, out int length))
        {
            TOperations.Retransmitted(Board, start, length, now, Mss);
        }
        TOperations.MarkLostSentBefore(Board, long.MaxValue, At(sacked), expiredAt: 0);
        TOperations.Append(Board, At(_tail++), 2 * Mss, now, Mss);
        while (TOperations.Count(Board) > _records)
        {
            TOperations.AckUpTo(Board, At(++_head), ref info);
        }
    }

    private static SequenceNumber At(int record) => new(unchecked((uint)(Base + ((long)record * 2 * Mss)))); // wraps as sequence space does
}
