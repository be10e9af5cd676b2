// Runs the built `netstack` (the NetStack.Cli apphost beside the tests) as the ordinary user netstack-test, the way a
// user without root runs `netstack run`. .ci/run creates that user and gives it rw on /dev/net/tun through the
// netstack-tun group; tests skip, saying why, when that or user namespaces are missing.
using System.Diagnostics;
using NetStack.Cli.Run;
using NetStack.Tests.Interop;

namespace NetStack.Tests.Cli.Run;

/// <summary>The unprivileged user the `netstack run` tests run as, and the process plumbing.</summary>
internal static class UnprivilegedUser
{
    public const string Name = "netstack-test";

    private static readonly Lazy<string?> s_missing = new(FindMissing);

    private static readonly Lazy<string> s_netstack = new(() => OperatingSystem.IsWindows() ? Path.Combine(AppContext.BaseDirectory, "NetStack.Cli") : Stage());

    /// <summary>
    /// The apphost of the CLI (the same program as Cli's `netstack`), from a copy of the test output in a directory
    /// every user can read: a clone under a home directory such as /root is out of the ordinary user's reach.
    /// </summary>
    public static string Netstack => s_netstack.Value;

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string Stage()
    {
        string source = AppContext.BaseDirectory;
        string staged = Path.Combine(Path.GetTempPath(), $"netstack-run-tests-{Environment.ProcessId}");
        const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        Directory.CreateDirectory(staged, Readable);
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(staged, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!, Readable);
            File.Copy(file, target, overwrite: true);
            File.SetUnixFileMode(target, Readable);
        }
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(staged, recursive: true);
            }
            catch (IOException)
            {
                // a process of the user may still hold a file: /tmp is cleaned anyway
            }
        };
        return Path.Combine(staged, "NetStack.Cli");
    }

    /// <summary>Skips the calling test, with the reason, unless `netstack run` can run here as <see cref="Name"/>.</summary>
    public static void Require(params string[] tools)
    {
        Skip.If(s_missing.Value is not null, s_missing.Value);
        foreach (string tool in tools)
        {
            Skip.If(InteropEnvironment.Which(tool) is null, $"netstack run: '{tool}' is not installed (.ci/run installs it)");
        }
    }

    private static string? FindMissing()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "netstack run: Linux only";
        }
        if (Environment.UserName != "root")
        {
            return "netstack run: the tests need root, to run the command as the ordinary user " + Name;
        }
        foreach (string tool in new[] { "setpriv", "unshare", "nsenter", "id" })
        {
            if (InteropEnvironment.Which(tool) is null)
            {
                return $"netstack run: '{tool}' (util-linux) is not installed";
            }
        }
        if (InteropEnvironment.Run("id", $"-u {Name}").Exit != 0)
        {
            return $"netstack run: there is no user {Name} (.ci/run creates it and gives it /dev/net/tun)";
        }
        if (RunDiagnostics.UserNamespacesDisabled() is { } disabled)
        {
            return "netstack run: " + disabled;
        }
        if (Run(["unshare", "-Urn", "true"]) is { Exit: not 0 } userns)
        {
            return $"netstack run: {Name} cannot create user namespaces here: {userns.Error.Trim()}";
        }
        if (Run(["test", "-r", "/dev/net/tun", "-a", "-w", "/dev/net/tun"]).Exit != 0)
        {
            return $"netstack run: {Name} has no rw on /dev/net/tun (.ci/run grants it through the netstack-tun group)";
        }
        if (Run([Netstack, "--version"]) is { Exit: not 0 } version)
        {
            return $"netstack run: {Name} cannot start {Netstack} (is the test output or the .NET runtime out of its reach?): {version.Error.Trim()}";
        }
        return null;
    }

    /// <summary>setpriv's arguments that become <see cref="Name"/> (its groups included), then run <paramref name="command"/>.</summary>
    private static ProcessStartInfo StartInfo(IEnumerable<string> command, bool redirectInput, string user)
    {
        var start = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        string[] become = user == Name
            ? [$"--reuid={Name}", $"--regid={Name}", "--init-groups"]
            : [$"--reuid={user}", "--regid=nogroup", "--clear-groups"];
        foreach (string argument in become.Append("--").Concat(command))
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["HOME"] = "/tmp";
        start.Environment["USER"] = user;
        start.Environment["LOGNAME"] = user;
        return start;
    }

    /// <summary>Starts <paramref name="command"/> as <see cref="Name"/>.</summary>
    public static Process Start(IEnumerable<string> command, bool redirectInput = false, string user = Name) =>
        Process.Start(StartInfo(command, redirectInput, user)) ?? throw new InvalidOperationException("setpriv did not start");

    /// <summary>Runs <paramref name="command"/> as <see cref="Name"/> to completion (killed after <paramref name="timeout"/>).</summary>
    public static (int Exit, string Output, string Error) Run(IEnumerable<string> command, TimeSpan? timeout = null, string user = Name)
    {
        using Process process = Start(command, user: user);
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, output.Result, error.Result + "\n(timed out)");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    /// <summary>`netstack run ARGS` as <see cref="Name"/>.</summary>
    public static (int Exit, string Output, string Error) NetstackRun(IEnumerable<string> arguments, TimeSpan? timeout = null) =>
        Run(new[] { Netstack, "run" }.Concat(arguments), timeout);

    /// <summary>The process ids of <see cref="Name"/>'s processes.</summary>
    public static IReadOnlyList<int> Processes()
    {
        var (_, output, _) = InteropEnvironment.Run("pgrep", $"-u {Name}");
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
    }
}
