using System.CommandLine;

namespace NetStack.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (Run.NamespaceInit.IsInit(args))
        {
            return Run.NamespaceInit.Run(args); // `netstack run`'s init inside the namespaces: no command line to parse
        }
        var root = new RootCommand("netstack: an embeddable userspace TCP/IP stack for .NET.");

        var packets = new Option<int>("--packets") { Description = "Packets to build, parse and validate.", DefaultValueFactory = _ => 2_000_000 };
        var payload = new Option<int>("--payload") { Description = "Payload bytes per packet.", DefaultValueFactory = _ => 1448 };
        packets.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 2)
            {
                r.AddError("--packets must be at least 2 (one IPv4 and one IPv6 packet).");
            }
        });
        payload.Validators.Add(r =>
        {
            int n = r.GetValueOrDefault<int>();
            if (n < 0 || n > 65000)
            {
                r.AddError("--payload must be between 0 and 65000 bytes.");
            }
        });
        var selfcheck = new Command("selfcheck", "Build, parse, validate and checksum packets in memory (no device, no root) and print throughput.")
        {
            packets,
            payload,
        };
        selfcheck.SetAction(result => SelfCheck.Run(result.GetValue(packets), result.GetValue(payload), Console.Out));
        root.Subcommands.Add(selfcheck);
        root.Subcommands.Add(PcapCheckCommand.Create());
        root.Subcommands.Add(Demo.DemoCommand.Create());
        root.Subcommands.Add(Serve.ServeCommand.Create());
        Command run = Run.RunCommand.Create();
        root.Subcommands.Add(run);
        root.Options.Add(CliLogging.Verbosity);

        ParseResult parsed = root.Parse(Run.RunCommand.SeparateCommand(run, args));
        CliLogging.Level = parsed.GetValue(CliLogging.Verbosity);
        try
        {
            return parsed.Invoke();
        }
        finally
        {
            CliLogging.Flush();
        }
    }
}
