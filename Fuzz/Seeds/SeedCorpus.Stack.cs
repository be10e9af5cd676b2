// Seeds for the whole-stack targets: scripts of handshakes, data, FIN/RST, UDP, fragments, ICMP errors about the
// stack's own packets, GRO batches and clock steps (opcodes of StackScript.Op), plus raw packets from the pcap seeds.
using NetStack.Fuzz.Support;

namespace NetStack.Fuzz.Seeds;

public static partial class SeedCorpus
{
    private const byte Raw = 0, Syn = 1, Handshake = 2, Ack = 3, Data = 4, Fin = 5, Rst = 6, Segment = 7, Udp = 8, Clock = 9,
        App = 10, Icmp = 11, Fragments = 12, Batch = 13;

    // App sub-operations (arg & 7): accept, read all, write, shutdown, abort, dispose, UDP receive (+reply with bit 3), UDP send.
    private const byte Accept = 0, Read = 1, Send = 2, Shutdown = 3, Abort = 4, Dispose = 5, UdpReceive = 6, UdpSend = 7;

    private static void AddStackSeeds(Action<string, string, ReadOnlySpan<byte>> add, IReadOnlyList<(string Name, byte[] Packet)> packets)
    {
        byte[] exchange =
        [
            Handshake, 0, App, Accept, 0, Data, 0x04, 20, App, Read, 0, App, Send | (1 << 3), 0, Ack, 0, 0xFF,
            Data, 0x00, 180, Data, 0x00, 180, Clock, 1, Ack, 0, 0xFF, Fin, 0, App, Read, 0, App, Dispose, 0, Ack, 0, 0xFF, Clock, 6, Clock, 8,
        ];
        add("StackInbound", "v4-handshake-data-close", [0x00, .. exchange]);
        add("StackInbound", "v6-gso-handshake-bulk", [0x01, Handshake, 1, App, Accept, 0, App, Send | (15 << 3), 0, Clock, 1, Ack, 1, 0xFF,
            Clock, 2, Ack, 1, 0x10, App, Abort, 0, Clock, 8]);
        add("StackInbound", "udp-echo-and-port-unreachable", [0x00, Udp, 0, 10, Udp, 1, 30, Udp, 4, 5, App, UdpReceive | 8, 0, App, UdpSend, 3,
            App, UdpSend | 8, 2]);
        add("StackInbound", "syn-to-closed-port-and-resets", [0x00, Syn, 0x04 | (0xF << 3), Syn, 2 | (1 << 3), Rst, 2, Rst, 2 | 4, Segment, 3, 0x12, 0, 0, 0, 0, 0x10]);
        add("StackInbound", "fragments-udp-and-tcp", [0x00, Fragments, 0x08, 3, Fragments, 0x0D, 7, Handshake, 0, Fragments, 0x10, 5, Fragments, 0x14, 9,
            App, Accept, 0, App, Read, 0]);
        add("StackInbound", "icmp-errors-about-own-packets", [0x00, Handshake, 0, App, Accept, 0, App, Send | (4 << 3), 0, Icmp, 0, 0x02, 0x40,
            Icmp, 1 | (3 << 2), 0, 0, Udp, 1, 8, App, UdpReceive | 8, 0, Icmp, 0, 0x05, 0x00, Icmp, 2, 0, 0, Clock, 3]);
        add("StackInbound", "gro-batch-into-stack", [0x10, Handshake, 2, Batch, 0, Data, 2, 100, Data, 2, 100, Data, 2, 100, Data, 0x06, 50, Batch, 0,
            App, Accept, 0, App, Read, 0]);
        add("StackInbound", "retransmission-timeouts", [0x00, Handshake, 0, App, Accept, 0, App, Send | (2 << 3), 0, Clock, 3, Clock, 4, Clock, 5,
            Clock, 5, Clock, 6, Clock, 7, Clock, 8]);
        add("StackInbound", "zero-window-persist", [0x04, Handshake, 0, App, Accept, 0, Ack, 0, 0x00, App, Send | (3 << 3), 0, Clock, 4, Clock, 5,
            Clock, 6, Ack, 0, 0x40, Clock, 1]);
        add("StackInbound", "back-pressure-bulk-batched-reads", [0x60, Handshake, 0, App, Accept, 0, App, Send | (15 << 3), 0, Ack, 0, 0xFF, Clock, 2,
            Ack, 0, 0xFF, Clock, 4, Ack, 0, 0xFF, Clock, 5]);
        add("StackInbound", "gso-batched-reads-v6", [0x21, Handshake, 1, App, Accept, 0, App, Send | (15 << 3), 0, Ack, 1, 0xFF, Clock, 1, Ack, 1, 0xFF]);
        add("StackInbound", "half-open-timeout", [0x02, Syn, 0 | (0xF << 3), Syn, 1 | (0xF << 3), Clock, 5, Clock, 6, Clock, 7, Clock, 7]);
        foreach ((string name, byte[] packet) in packets.Where(p => p.Name.Contains("syn", StringComparison.Ordinal) || p.Name.Contains("fragment", StringComparison.Ordinal)
            || p.Name.Contains("icmp-echo", StringComparison.Ordinal)))
        {
            ushort prefix = PacketRecord.Prefix(packet.Length, segmented: false, fixChecksums: true);
            add("StackInbound", $"raw-{name}", [0x00, Raw, 0, (byte)(prefix >> 8), (byte)prefix, .. packet, Clock, 4]);
        }

        // TcpConnection: config, set-up (peer, queue data, shut down), then the script.
        add("TcpConnection", "data-both-ways", [0x00, 0x04, Ack, 0, 0xFF, Data, 0x04, 40, App, Read, 0, App, Send | (2 << 3), 7, Clock, 1, Ack, 0, 0xFF, Clock, 8]);
        add("TcpConnection", "v6-peer-fin-first", [0x00, 0x01, Fin, 1, App, Read, 0, App, Shutdown, 0, Ack, 1, 0xFF, Clock, 6, Clock, 8]);
        add("TcpConnection", "shutdown-then-data", [0x00, 0x0C, Data, 0, 10, Ack, 0, 0xFF, Fin, 0, Clock, 6]);
        add("TcpConnection", "out-of-window-and-challenges", [0x08, 0x04, Segment, 0x30, 0x10, 0x80, 0x7F, 8, 0xFF, 0xFF, Segment, 0x00, 0x02, 0, 0, 0, 0x40, 0x00,
            Rst, 0x04, Rst, 0x08, Segment, 0x08, 0x18, 5, 0, 20, 0x10, 0x00, Clock, 2]);
        add("TcpConnection", "sack-and-reordering", [0x00, 0x04, Segment, 0x08, 0x10, 0, 0, 0, 0xFF, 0xFF, Segment, 0x48, 0x18, 50, 0, 10, 0xFF, 0xFF,
            Data, 0, 10, Ack, 0, 0xFF, App, Read, 0, Clock, 4]);
        add("TcpConnection", "small-buffers-zero-window", [0x04, 0x04, Ack, 0, 0x00, Data, 0x00, 255, Data, 0x00, 255, Clock, 5, Ack, 0, 0x20, App, Read, 0, Clock, 3]);
    }
}
