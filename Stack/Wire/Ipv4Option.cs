// One IPv4 option as the walker found it (RFC 791 §3.1): the type octet and the bytes after type and length.
namespace NetStack.Wire;

/// <summary>
/// One option yielded by <see cref="Ipv4OptionReader"/>. The type octet splits into the copied flag, the
/// option class and the option number (RFC 791 §3.1); EOL and NOP are single octets with no data.
/// </summary>
public readonly ref struct Ipv4Option
{
    /// <summary>Type of the end-of-option-list option (RFC 791 §3.1).</summary>
    public const byte EndOfList = 0;
    /// <summary>Type of the no-operation option (RFC 791 §3.1).</summary>
    public const byte NoOperation = 1;
    /// <summary>Type of the router alert option (RFC 2113 §2.1).</summary>
    public const byte RouterAlert = 148;

    private readonly ReadOnlySpan<byte> _data;

    internal Ipv4Option(byte type, ReadOnlySpan<byte> data)
    {
        Type = type;
        _data = data;
    }

    /// <summary>The option-type octet as on the wire.</summary>
    public byte Type { get; }

    /// <summary>The copied flag: the option is copied into every fragment (RFC 791 §3.1, §3.2).</summary>
    public bool Copied => (Type & 0x80) != 0;

    /// <summary>The option class (0 control, 2 debugging and measurement; 1 and 3 reserved).</summary>
    public int Class => (Type >> 5) & 0x03;

    /// <summary>The option number within its class.</summary>
    public int Number => Type & 0x1F;

    /// <summary>True for the single-octet options (EOL and NOP).</summary>
    public bool IsSingleOctet => Type is EndOfList or NoOperation;

    /// <summary>Bytes the option takes on the wire: 1 for EOL and NOP, else its length octet.</summary>
    public int Length => IsSingleOctet ? 1 : _data.Length + 2;

    /// <summary>The option's bytes after type and length (empty for EOL and NOP).</summary>
    public ReadOnlySpan<byte> Data => _data;
}
