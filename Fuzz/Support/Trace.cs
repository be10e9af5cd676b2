// Opt-in tracing for reproducing a failing input by hand: NETSTACK_FUZZ_TRACE=1 makes stateful targets print what
// they do, step by step, to standard error. Off (one static read) in fuzzing and replay.
namespace NetStack.Fuzz.Support;

/// <summary>Step-by-step tracing of stateful targets, enabled by the <c>NETSTACK_FUZZ_TRACE</c> environment variable.</summary>
public static class Trace
{
    /// <summary>True when <c>NETSTACK_FUZZ_TRACE</c> is set to anything but empty or 0.</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("NETSTACK_FUZZ_TRACE") is { Length: > 0 } v && v != "0";

    /// <summary>Writes one line to standard error when tracing.</summary>
    public static void Write(string line)
    {
        if (Enabled)
        {
            Console.Error.WriteLine(line);
        }
    }
}
