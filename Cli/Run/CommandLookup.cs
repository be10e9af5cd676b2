// `netstack run`: finding CMD as a shell does (a name with a slash as it is, else the first executable regular file
// of that name along PATH), before any namespace exists, so that a typo costs nothing and reads like a shell's.
using System.Runtime.InteropServices;

namespace NetStack.Cli.Run;

/// <summary>PATH lookup with a shell's verdicts: 127 not found, 126 found but not executable.</summary>
internal static class CommandLookup
{
    private const int X_OK = 1;

    /// <summary>The path to execute for <paramref name="command"/>, or null with the shell's status and message.</summary>
    public static string? Find(string command, string? path, out int status, out string? error)
    {
        ArgumentNullException.ThrowIfNull(command);
        status = 0;
        error = null;
        if (command.Length == 0)
        {
            (status, error) = (127, "'': command not found");
            return null;
        }
        if (command.Contains('/', StringComparison.Ordinal))
        {
            if (!File.Exists(command))
            {
                (status, error) = (127, Directory.Exists(command) ? $"{command}: Is a directory" : $"{command}: No such file or directory");
                return null;
            }
            if (RunNative.Access(command, X_OK) != 0)
            {
                (status, error) = (126, $"{command}: {Link.Tun.LinuxNative.Describe(Marshal.GetLastPInvokeError())}");
                return null;
            }
            return command;
        }
        string? notExecutable = null;
        foreach (string dir in (path ?? "/usr/local/bin:/usr/bin:/bin").Split(':'))
        {
            string candidate = Path.Combine(dir.Length == 0 ? "." : dir, command);
            if (File.Exists(candidate))
            {
                if (RunNative.Access(candidate, X_OK) == 0)
                {
                    return candidate;
                }
                notExecutable ??= candidate;
            }
        }
        (status, error) = notExecutable is null ? (127, $"{command}: command not found") : (126, $"{notExecutable}: Permission denied");
        return null;
    }

    /// <summary>A tool's path on PATH, or in the usual system directories; null when there is none.</summary>
    public static string? Which(string tool) =>
        Find(tool, (Environment.GetEnvironmentVariable("PATH") ?? "") + ":/usr/bin:/usr/sbin:/bin:/sbin", out _, out _);
}
