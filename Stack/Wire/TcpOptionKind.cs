// TCP option kinds this stack understands (RFC 9293 §3.2, RFC 7323, RFC 2018).
namespace NetStack.Wire;

/// <summary>TCP option kinds (IANA "TCP Option Kind Numbers") that the option walker decodes.</summary>
public enum TcpOptionKind : byte
{
    /// <summary>End of option list (RFC 9293 §3.2), one byte.</summary>
    EndOfOptions = 0,
    /// <summary>No-operation padding (RFC 9293 §3.2), one byte.</summary>
    NoOperation = 1,
    /// <summary>Maximum segment size (RFC 9293 §3.2), length 4.</summary>
    MaxSegmentSize = 2,
    /// <summary>Window scale (RFC 7323 §2.2), length 3.</summary>
    WindowScale = 3,
    /// <summary>SACK permitted (RFC 2018 §2), length 2.</summary>
    SackPermitted = 4,
    /// <summary>SACK blocks (RFC 2018 §3), length 2 + 8n.</summary>
    Sack = 5,
    /// <summary>Timestamps (RFC 7323 §3.2), length 10.</summary>
    Timestamps = 8,
}
