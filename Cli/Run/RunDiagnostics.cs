// `netstack run`: the errors a user can fix, each worded with the fix: user namespaces disabled (sysctls, Ubuntu's
// AppArmor restriction), /dev/net/tun missing or not accessible, newuidmap or subordinate ranges missing.
using NetStack.Link.Tun;

namespace NetStack.Cli.Run;

/// <summary>Explanations of the failures a user can fix.</summary>
internal static class RunDiagnostics
{
    /// <summary>
    /// Why unprivileged user namespaces cannot be created here, with the fix, or null when nothing says so
    /// (read from <paramref name="procSys"/>, /proc/sys by default).
    /// </summary>
    public static string? UserNamespacesDisabled(string procSys = "/proc/sys")
    {
        if (ReadNumber(procSys + "/kernel/unprivileged_userns_clone") == 0)
        {
            return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): enable them with "
                + "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (and in /etc/sysctl.d/ to keep it)";
        }
        if (ReadNumber(procSys + "/user/max_user_namespaces") == 0)
        {
            return "user namespaces are disabled (user.max_user_namespaces = 0): enable them with "
                + "`sudo sysctl -w user.max_user_namespaces=28633` (and in /etc/sysctl.d/ to keep it)";
        }
        if (ReadNumber(procSys + "/kernel/apparmor_restrict_unprivileged_userns") == 1)
        {
            return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10+): "
                + "allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or give netstack an AppArmor "
                + "profile with the `userns,` rule";
        }
        return null;
    }

    /// <summary>The text for a failure to open or create the TUN device, naming the fix where there is one.</summary>
    public static string ExplainTunError(IOException error, string name)
    {
        ArgumentNullException.ThrowIfNull(error);
        bool opening = error.Message.StartsWith("open /dev/net/tun", StringComparison.Ordinal);
        return error.HResult switch
        {
            RunNative.ENOENT when opening =>
                $"{error.Message}: /dev/net/tun is missing; load the tun module (`sudo modprobe tun`) or create the node "
                + "(`sudo mkdir -p /dev/net && sudo mknod -m 0666 /dev/net/tun c 10 200`)",
            RunNative.EACCES or LinuxNative.EPERM when opening =>
                $"{error.Message}: you need read and write access to /dev/net/tun (its permissions apply inside a user namespace "
                + "too); most distributions make it 0666 (`sudo chmod 0666 /dev/net/tun`), or give a group you are in rw on it",
            RunNative.ENODEV or RunNative.ENXIO when opening =>
                $"{error.Message}: the kernel has no TUN driver; load it with `sudo modprobe tun`",
            LinuxNative.EBUSY =>
                $"{error.Message}: a device named {name} exists in the namespace already; choose another with --tun-name",
            LinuxNative.EPERM =>
                $"{error.Message}: no CAP_NET_ADMIN over the network namespace (with --attach, the process's user namespace must "
                + "map you to root, as `unshare -r` does)",
            _ => error.Message,
        };
    }

    /// <summary>The fix when newuidmap or newgidmap is missing.</summary>
    public static string IdMapToolMissing(string tool) =>
        $"--uid-map needs {tool}, which is not installed: install the uidmap package (`sudo apt install uidmap`, "
        + "`sudo dnf install shadow-utils`), or run without --uid-map (you alone, mapped to root)";

    /// <summary>The fix when the caller has no subordinate range.</summary>
    public static string NoSubordinateRange(string file, string user) =>
        $"--uid-map: {user} has no subordinate range in {file}: add one with "
        + $"`sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}`, or run without --uid-map";

    private static long? ReadNumber(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long value) ? value : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
