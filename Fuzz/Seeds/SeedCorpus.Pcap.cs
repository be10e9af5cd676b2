// Seeds for the PcapFrame target: seed packets behind each link header `netstack pcap check` reads.
namespace NetStack.Fuzz.Seeds;

public static partial class SeedCorpus
{
    // Indexes into PcapFrameTarget's link-type table.
    private const byte FrameRaw = 0, FrameEthernet = 1, FrameSll = 2, FrameSll2 = 3, FrameNull = 4;

    private static void AddPcapFrameSeeds(Action<string, string, ReadOnlySpan<byte>> add, IReadOnlyList<(string Name, byte[] Packet)> packets)
    {
        for (int i = 0; i < packets.Count; i++)
        {
            (string name, byte[] packet) = packets[i];
            bool v6 = packet[0] >> 4 == 6;
            byte hi = (byte)(v6 ? 0x86 : 0x08), lo = (byte)(v6 ? 0xDD : 0x00);
            switch (i % 5)
            {
                case 0:
                    add("PcapFrame", $"raw-{name}", [FrameRaw, 0, 0, .. packet]);
                    break;
                case 1:
                    add("PcapFrame", $"ethernet-{name}", [FrameEthernet, 0, 0, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, hi, lo, .. packet]);
                    break;
                case 2:
                    add("PcapFrame", $"vlan-{name}", [FrameEthernet, 0, 0, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x00, 0x07, hi, lo, .. packet]);
                    break;
                case 3:
                    add("PcapFrame", $"sll-{name}", [FrameSll, 0, 0, 0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, hi, lo, .. packet]);
                    break;
                default:
                    add("PcapFrame", $"sll2-{name}", [FrameSll2, 0, 0, hi, lo, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, .. packet]);
                    break;
            }
        }
        add("PcapFrame", "loopback-snapped", [FrameNull, 0x00, 0x40, 2, 0, 0, 0, .. packets[0].Packet[..30]]);
        add("PcapFrame", "unsupported-link", [8, 0, 0, 1, 2, 3]);
    }
}
