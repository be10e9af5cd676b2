// SharpFuzz-instrumented code bumps a counter in SharpFuzz.Common.Trace.SharedMem on every branch; that pointer
// is null until Fuzzer.Run / Fuzzer.LibFuzzer.Run attach the fuzzer's map, so instrumented code run any other
// way (replay, single files, creating a target before the fuzzer starts) would crash. This installs a scratch map.
using System.Runtime.InteropServices;

namespace NetStack.Fuzz.Support;

/// <summary>Points SharpFuzz's coverage map at a private scratch buffer until a fuzzer replaces it.</summary>
public static class ScratchCoverageMap
{
    private const int MapSize = 1 << 16;

    /// <summary>Installs the scratch map when none is attached (idempotent).</summary>
    public static unsafe void Install()
    {
        if (SharpFuzz.Common.Trace.SharedMem == null)
        {
            SharpFuzz.Common.Trace.SharedMem = (byte*)NativeMemory.AllocZeroed(MapSize);
        }
    }
}
