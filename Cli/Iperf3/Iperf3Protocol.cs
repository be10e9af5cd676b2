// iperf3's control protocol (esnet/iperf 3.x, iperf_api.c and iperf.h), TCP tests only. A control connection
// carries the 37-byte cookie, one-byte states (signed char) and length-prefixed JSON; data connections
// start with the same cookie. Every read is bounded in size and time.
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Iperf3;

/// <summary>
/// The error codes the server relays with SERVER_ERROR that we send (iperf_api.h's i_errno values, which the client
/// turns into its own message; the ones here are numbered alike from iperf3 3.1 on).
/// </summary>
public enum Iperf3Error
{
    /// <summary>IEDURATION: the client prints "test duration too long".</summary>
    DurationTooLong = 5,
    /// <summary>IENUMSTREAMS: the client prints "number of parallel streams too large".</summary>
    TooManyStreams = 6,
}

/// <summary>States sent on the control connection (iperf.h).</summary>
public enum Iperf3State : sbyte
{
    /// <summary>TEST_START: streams are up, timers start.</summary>
    TestStart = 1,
    /// <summary>TEST_RUNNING: data flows.</summary>
    TestRunning = 2,
    /// <summary>TEST_END: the client's timer (or byte count) ran out.</summary>
    TestEnd = 4,
    /// <summary>PARAM_EXCHANGE: the client sends its parameters as JSON.</summary>
    ParamExchange = 9,
    /// <summary>CREATE_STREAMS: the client connects its data streams.</summary>
    CreateStreams = 10,
    /// <summary>SERVER_TERMINATE.</summary>
    ServerTerminate = 11,
    /// <summary>CLIENT_TERMINATE.</summary>
    ClientTerminate = 12,
    /// <summary>EXCHANGE_RESULTS: client results JSON, then server results JSON.</summary>
    ExchangeResults = 13,
    /// <summary>DISPLAY_RESULTS.</summary>
    DisplayResults = 14,
    /// <summary>IPERF_START.</summary>
    IperfStart = 15,
    /// <summary>IPERF_DONE: the client is done; the server closes.</summary>
    IperfDone = 16,
    /// <summary>ACCESS_DENIED: the server is busy with another test.</summary>
    AccessDenied = -1,
    /// <summary>SERVER_ERROR: followed by two 32-bit big-endian ints (i_errno, errno).</summary>
    ServerError = -2,
}

/// <summary>Wire helpers for the iperf3 control protocol.</summary>
public static class Iperf3Protocol
{
    /// <summary>COOKIE_SIZE: 36 characters and a NUL.</summary>
    public const int CookieSize = 37;

    /// <summary>Largest JSON message accepted (parameters and results are a few KiB).</summary>
    public const int MaxJsonLength = 1 << 20;

    private const string CookieAlphabet = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>A fresh cookie (36 characters of iperf3's alphabet and a NUL).</summary>
    public static byte[] NewCookie()
    {
        byte[] cookie = new byte[CookieSize];
        for (int i = 0; i < CookieSize - 1; i++)
        {
            cookie[i] = (byte)CookieAlphabet[RandomNumberGenerator.GetInt32(CookieAlphabet.Length)];
        }
        return cookie;
    }

    /// <summary>The cookie as text (without the NUL).</summary>
    public static string CookieText(ReadOnlySpan<byte> cookie)
    {
        int end = cookie.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? cookie : cookie[..end]);
    }

    /// <summary>Reads one state byte.</summary>
    public static async Task<Iperf3State> ReadStateAsync(Stream control, CancellationToken cancellationToken)
    {
        byte[] one = new byte[1];
        await control.ReadExactlyAsync(one, cancellationToken).ConfigureAwait(false);
        return (Iperf3State)(sbyte)one[0];
    }

    /// <summary>Writes one state byte.</summary>
    public static Task WriteStateAsync(Stream control, Iperf3State state, CancellationToken cancellationToken) =>
        control.WriteAsync(new[] { (byte)(sbyte)state }, cancellationToken).AsTask();

    /// <summary>
    /// SERVER_ERROR and the reason, as iperf3's server relays an error: the state byte, then iperf3's error code and an
    /// errno (0), each a 32-bit big-endian integer; the client prints the code's message and exits.
    /// </summary>
    public static Task WriteServerErrorAsync(Stream control, Iperf3Error error, CancellationToken cancellationToken)
    {
        byte[] message = new byte[9];
        message[0] = unchecked((byte)(sbyte)Iperf3State.ServerError);
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), (int)error);
        return control.WriteAsync(message, cancellationToken).AsTask();
    }

    /// <summary>Reads a 4-byte big-endian length and that much JSON (bounded by <see cref="MaxJsonLength"/>).</summary>
    public static async Task<JsonObject> ReadJsonAsync(Stream control, CancellationToken cancellationToken)
    {
        byte[] length = new byte[4];
        await control.ReadExactlyAsync(length, cancellationToken).ConfigureAwait(false);
        int n = BinaryPrimitives.ReadInt32BigEndian(length);
        if (n <= 0 || n > MaxJsonLength)
        {
            throw new InvalidDataException($"iperf3: JSON message length {n} out of range");
        }
        byte[] text = new byte[n];
        await control.ReadExactlyAsync(text, cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new InvalidDataException("iperf3: JSON message is not an object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException("iperf3: bad JSON: " + e.Message, e);
        }
    }

    /// <summary>Writes a 4-byte big-endian length and the JSON.</summary>
    public static async Task WriteJsonAsync(Stream control, JsonObject json, CancellationToken cancellationToken)
    {
        byte[] text = Encoding.UTF8.GetBytes(json.ToJsonString());
        byte[] message = new byte[4 + text.Length];
        BinaryPrimitives.WriteInt32BigEndian(message, text.Length);
        text.CopyTo(message, 4);
        await control.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a state byte and a length-prefixed JSON message in one write (one segment, or one GSO super-segment).</summary>
    public static async Task WriteStateAndJsonAsync(Stream control, Iperf3State state, JsonObject json, CancellationToken cancellationToken)
    {
        byte[] text = Encoding.UTF8.GetBytes(json.ToJsonString());
        byte[] message = new byte[1 + 4 + text.Length];
        message[0] = (byte)(sbyte)state;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), text.Length);
        text.CopyTo(message, 5);
        await control.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stream ids as iperf3 numbers them (iperf_add_stream): the first stream is 1, the n-th (n ≥ 2) is n + 1.
    /// Both sides number in connection order, and results are matched by id.
    /// </summary>
    public static int StreamId(int index) => index == 0 ? 1 : index + 2;

    /// <summary>The results object both sides exchange.</summary>
    public static JsonObject Results(IReadOnlyList<Iperf3StreamResult> streams, bool sender, double seconds)
    {
        var array = new JsonArray();
        foreach (Iperf3StreamResult s in streams)
        {
            array.Add((JsonNode)new JsonObject // the JsonNode overload: Add<T> needs run-time code (no NativeAOT)
            {
                ["id"] = s.Id,
                ["bytes"] = s.Bytes,
                ["retransmits"] = sender ? s.Retransmits : -1,
                ["jitter"] = 0,
                ["errors"] = 0,
                ["omitted_errors"] = 0,
                ["packets"] = 0,
                ["omitted_packets"] = 0,
                ["start_time"] = 0,
                ["end_time"] = seconds,
            });
        }
        return new JsonObject
        {
            ["cpu_util_total"] = 0,
            ["cpu_util_user"] = 0,
            ["cpu_util_system"] = 0,
            ["sender_has_retransmits"] = sender ? 1 : -1,
            ["congestion_used"] = "netstack",
            ["streams"] = array,
        };
    }

    /// <summary>Total bytes of a results object's streams (0 when absent or malformed).</summary>
    public static long TotalBytes(JsonObject results)
    {
        long total = 0;
        if (results["streams"] is JsonArray streams)
        {
            foreach (JsonNode? stream in streams)
            {
                if (stream is JsonObject o && o["bytes"] is JsonValue v && v.TryGetValue(out long bytes))
                {
                    total += bytes;
                }
            }
        }
        return total;
    }
}

/// <summary>One stream's figures in an iperf3 results exchange.</summary>
/// <param name="Id">Stream id (<see cref="Iperf3Protocol.StreamId"/>).</param>
/// <param name="Bytes">Bytes sent (sender) or received (receiver).</param>
/// <param name="Retransmits">Retransmitted segments (sender), else -1.</param>
public sealed record Iperf3StreamResult(int Id, long Bytes, long Retransmits);
