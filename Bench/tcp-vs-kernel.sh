#!/usr/bin/env bash
# Same-run comparison of TCP between two in-process stacks (Bench `tcp`: one stream over the in-memory pipe
# link on the system clock, A writes, B reads) against iperf3 over the kernel's loopback, for GSO off/on, with
# and without SHA-256, and CUBIC vs NewReno under 1 % loss of data (and of data and ACKs). Needs iperf3. No root.
# Usage: Bench/tcp-vs-kernel.sh [SECONDS, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
command -v iperf3 >/dev/null || { echo "iperf3 is not installed (apt-get install iperf3)" >&2; exit 1; }
dotnet build Bench -c Release -v q -nologo >/dev/null
port=52018
iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 & srv=$!
sleep 0.5
kernel=$(iperf3 -c 127.0.0.1 -p $port -t "$secs" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
wait $srv || true
printf 'kernel loopback, iperf3 one stream: %.2f Gbit/s (load %s)\n' "$kernel" "$(cut -d' ' -f1-3 /proc/loadavg)"
for args in "--gso none" "--gso host" "--gso host --hash" "--gso host --loss 1 --cc cubic" "--gso host --loss 1 --cc newreno" \
            "--gso host --loss 1 --ack-loss 1 --cc cubic" "--gso host --loss 1 --ack-loss 1 --cc newreno"; do
  out=$(dotnet Bench/bin/Release/net10.0/NetStack.Bench.dll tcp --seconds "$secs" $args)
  echo "$out" | sed -n 1,2p
  g=$(echo "$out" | sed -n 1p | sed -E 's/.* = ([0-9.]+) Gbit\/s.*/\1/')
  python3 -c "import sys; print(f'  => {sys.argv[1]:<45} {float(sys.argv[2]):6.2f} Gbit/s = {float(sys.argv[2])/float(sys.argv[3]):.2f}x the kernel')" "$args" "$g" "$kernel"
done
