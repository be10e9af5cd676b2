// `netstack run`'s helpers that need no namespace: PATH lookup with a shell's verdicts, /etc/subuid ranges, the
// diagnosis of disabled user namespaces from /proc/sys, the TUN error texts, and descriptor passing (SCM_RIGHTS).
using NetStack.Cli.Run;
using NetStack.Link.Tun;

namespace NetStack.Tests.Cli.Run;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CommandLookupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("netstack-lookup").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, UnixFileMode mode)
    {
        string path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, "#!/bin/sh\n");
        System.IO.File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void Find_OnPath_FirstExecutable()
    {
        File("tool", UnixFileMode.UserRead | UnixFileMode.UserExecute);
        Assert.Equal(Path.Combine(_dir, "tool"), CommandLookup.Find("tool", $"/nonexistent:{_dir}", out int status, out _));
        Assert.Equal(0, status);
    }

    [Fact]
    public void Find_Missing_127CommandNotFound()
    {
        Assert.Null(CommandLookup.Find("no-such-tool", _dir, out int status, out string? error));
        Assert.Equal(127, status);
        Assert.Equal("no-such-tool: command not found", error);
    }

    [Fact]
    public void Find_NotExecutable_126()
    {
        File("plain", UnixFileMode.UserRead);
        Assert.Null(CommandLookup.Find("plain", _dir, out int status, out _));
        Assert.Equal(126, status);
    }

    [Fact]
    public void Find_WithSlash_TakenAsIs()
    {
        string path = File("direct", UnixFileMode.UserRead | UnixFileMode.UserExecute);
        Assert.Equal(path, CommandLookup.Find(path, "", out _, out _));
        Assert.Null(CommandLookup.Find(_dir + "/absent", "", out int status, out string? error));
        Assert.Equal(127, status);
        Assert.EndsWith("No such file or directory", error, StringComparison.Ordinal);
        Assert.Null(CommandLookup.Find(_dir, "", out status, out error));
        Assert.EndsWith("Is a directory", error, StringComparison.Ordinal);
    }
}

public sealed class UserNamespaceMapsTests : IDisposable
{
    private readonly string _file = Path.GetTempFileName();

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void FindRange_ByNameOrNumber_FirstValid()
    {
        File.WriteAllLines(_file, ["other:100000:65536", "alice:bad:65536", "alice:200000:0", "1000:300000:65536", "alice:400000:65536"]);
        Assert.Equal(new SubordinateRange(300000, 65536), UserNamespaceMaps.FindRange(_file, "alice", 1000));
        Assert.Equal(new SubordinateRange(400000, 65536), UserNamespaceMaps.FindRange(_file, "alice", 1001));
        Assert.Null(UserNamespaceMaps.FindRange(_file, "bob", 1002));
        Assert.Null(UserNamespaceMaps.FindRange(_file + ".absent", "alice", 1000));
    }

    [Fact]
    public void Plan_NoRange_ErrorNamesTheFix()
    {
        File.WriteAllLines(_file, ["other:100000:65536"]);
        SubordinateMapPlan? plan = UserNamespaceMaps.Plan("alice", 1000, 1000, out string? error, _file, _file);
        Assert.Null(plan);
        Assert.NotNull(error);
        Assert.Contains(CommandLookup.Which("newuidmap") is null ? "uidmap" : "usermod --add-subuids", error, StringComparison.Ordinal);
    }
}

public sealed class RunDiagnosticsTests : IDisposable
{
    private readonly string _procSys = Directory.CreateTempSubdirectory("netstack-procsys").FullName;

    public void Dispose() => Directory.Delete(_procSys, recursive: true);

    private void Set(string name, string value)
    {
        string path = Path.Combine(_procSys, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, value + "\n");
    }

    [Fact]
    public void UserNamespaces_Enabled_Null()
    {
        Set("user/max_user_namespaces", "63000");
        Set("kernel/unprivileged_userns_clone", "1");
        Set("kernel/apparmor_restrict_unprivileged_userns", "0");
        Assert.Null(RunDiagnostics.UserNamespacesDisabled(_procSys));
        Assert.Null(RunDiagnostics.UserNamespacesDisabled(_procSys + "/absent")); // nothing says they are off
    }

    [Theory]
    [InlineData("kernel/unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1")]
    [InlineData("user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=")]
    [InlineData("kernel/apparmor_restrict_unprivileged_userns", "1", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")]
    public void UserNamespaces_Disabled_NamesTheSysctl(string sysctl, string value, string fix)
    {
        Set(sysctl, value);
        Assert.Contains(fix, RunDiagnostics.UserNamespacesDisabled(_procSys), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("open /dev/net/tun: No such file or directory", 2, "mknod")]
    [InlineData("open /dev/net/tun: Permission denied", 13, "read and write access to /dev/net/tun")]
    [InlineData("open /dev/net/tun: No such device", 19, "modprobe tun")]
    [InlineData("TUNSETIFF tun0: Device or resource busy", 16, "--tun-name")]
    [InlineData("TUNSETIFF tun0: Operation not permitted", 1, "map you to root")]
    public void ExplainTunError_KnownErrno_NamesTheFix(string message, int errno, string fix) =>
        Assert.Contains(fix, RunDiagnostics.ExplainTunError(new IOException(message, errno), "tun0"), StringComparison.Ordinal);
}

public sealed unsafe class RunNativeTests
{
    [Fact]
    public void SendReceive_WithDescriptor_ReceiverGetsAWorkingCopy()
    {
        int* pair = stackalloc int[2];
        Assert.Equal(0, LinuxNative.SocketPair(LinuxNative.AF_UNIX, LinuxNative.SOCK_SEQPACKET | LinuxNative.SOCK_CLOEXEC, 0, pair));
        using var a = new FileDescriptorHandle(pair[0], ownsHandle: true);
        using var b = new FileDescriptorHandle(pair[1], ownsHandle: true);
        using var file = File.OpenHandle(Path.GetTempFileName(), FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.DeleteOnClose);
        RandomAccess.Write(file, "through SCM_RIGHTS"u8, 0);

        Assert.True(RunNative.Send(a.Fd, "tun\ntun0"u8, (int)file.DangerousGetHandle()));
        byte[] buffer = new byte[InitMessage.MaxLength];
        int length = RunNative.Receive(b.Fd, buffer, out int received);
        Assert.Equal(("tun", "tun0"), InitMessage.Decode(buffer.AsSpan(0, length)));
        Assert.True(received >= 0);
        using var copy = new Microsoft.Win32.SafeHandles.SafeFileHandle(received, ownsHandle: true);
        byte[] read = new byte[18];
        Assert.Equal(18, RandomAccess.Read(copy, read, 0));
        Assert.Equal("through SCM_RIGHTS"u8.ToArray(), read);
        Assert.Equal(RunNative.FD_CLOEXEC, LinuxNative.Fcntl(received, RunNative.F_GETFD, 0)); // MSG_CMSG_CLOEXEC

        Assert.True(RunNative.Send(a.Fd, "go"u8));
        Assert.Equal(2, RunNative.Receive(b.Fd, buffer, out received));
        Assert.Equal(-1, received);
    }
}
