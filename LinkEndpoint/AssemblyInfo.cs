// Layer: link endpoints. Concrete ILinkEndpoint implementations: channel endpoint, GSO segmenter, TUN, pcap tap, simulated links.
[assembly: System.CLSCompliant(false)]
