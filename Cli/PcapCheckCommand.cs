// `netstack pcap check FILE`: the command over the library's dissector (Capture.PcapCheck).
using System.CommandLine;
using NetStack.Link.Capture;

namespace NetStack.Cli;

/// <summary>The <c>pcap</c> command group and its <c>check</c> command.</summary>
internal static class PcapCheckCommand
{
    /// <summary>The <c>pcap</c> command with its <c>check</c> subcommand.</summary>
    public static Command Create()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A pcap or pcapng capture (raw IP, Ethernet, Linux cooked v1/v2, loopback)." };
        var check = new Command("check", "Dissect every packet of a capture with NetStack's parsers: one JSON line per packet (layers, first error, checksum verdicts), then a summary.")
        {
            file,
        };
        check.SetAction(result => PcapCheck.Run(result.GetValue(file)!.FullName, Console.Out, Console.Error));
        return new Command("pcap", "Capture files.") { check };
    }

}
