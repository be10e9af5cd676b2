using System.Diagnostics;

namespace NetStack.Tests.Interop;

/// <summary>
/// What the kernel interop tests need: root, /dev/net/tun, ip netns, and the peer tools (iperf3, OpenBSD nc, ss, tc).
/// Tests call <see cref="Require"/> first and are reported as skipped, with the reason, when something is missing.
/// </summary>
internal static class InteropEnvironment
{
    private static readonly Lazy<string?> s_missing = new(FindMissing);

    /// <summary>Skips the calling test (visibly, with the reason) unless everything is there.</summary>
    public static void Require(params string[] tools)
    {
        Skip.If(s_missing.Value is not null, s_missing.Value);
        foreach (string tool in tools)
        {
            Skip.If(Which(tool) is null, $"kernel interop: '{tool}' is not installed (.ci/run installs it)");
        }
    }

    private static string? FindMissing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "kernel interop: Linux only";
        }
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
        {
            return "kernel interop: needs root (network namespaces and TUN devices)";
        }
        if (!File.Exists("/dev/net/tun"))
        {
            return "kernel interop: /dev/net/tun is missing";
        }
        if (Which("ip") is null)
        {
            return "kernel interop: 'ip' (iproute2) is not installed";
        }
        return null;
    }

    public static string? Which(string tool)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin:/usr/sbin:/sbin").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            string path = Path.Combine(dir, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }
        return null;
    }

    /// <summary>Runs a command to completion (bounded), returning exit code and output.</summary>
    public static (int Exit, string Output, string Error) Run(string file, string arguments, TimeSpan? timeout = null, string? stdinFile = null)
    {
        using var process = StartProcess(file, arguments, redirectInput: stdinFile is not null);
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (stdinFile is not null)
        {
            using (FileStream input = File.OpenRead(stdinFile))
            {
                input.CopyTo(process.StandardInput.BaseStream);
            }
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, output.Result, error.Result + $"\n(timed out: {file} {arguments})");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    public static Process StartProcess(string file, string arguments, bool redirectInput = false)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
    }
}
