// TCP control bits (RFC 9293 §3.1): the low nine bits of header bytes 12–13.
namespace NetStack.Wire;

/// <summary>
/// TCP control bits as they sit in the low nine bits of the big-endian word at header offset 12
/// (RFC 9293 §3.1). <see cref="Ae"/> is bit 8: the AE bit of Accurate ECN, formerly the ECN nonce sum
/// (NS, RFC 3540, historic).
/// </summary>
[Flags]
public enum TcpFlags : ushort
{
    /// <summary>No flag set.</summary>
    None = 0,
    /// <summary>No more data from sender.</summary>
    Fin = 0x001,
    /// <summary>Synchronize sequence numbers.</summary>
    Syn = 0x002,
    /// <summary>Reset the connection.</summary>
    Rst = 0x004,
    /// <summary>Push function.</summary>
    Psh = 0x008,
    /// <summary>Acknowledgment field is significant.</summary>
    Ack = 0x010,
    /// <summary>Urgent pointer field is significant.</summary>
    Urg = 0x020,
    /// <summary>ECN-Echo (RFC 3168 §6.1).</summary>
    Ece = 0x040,
    /// <summary>Congestion window reduced (RFC 3168 §6.1).</summary>
    Cwr = 0x080,
    /// <summary>AE (Accurate ECN), formerly NS (RFC 3540): bit 7 of header byte 12.</summary>
    Ae = 0x100,
}
