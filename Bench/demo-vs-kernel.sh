#!/usr/bin/env bash
# Same-run baseline for `netstack demo`: iperf3 over the kernel's loopback (one stream each way, the same bytes
# as the demo), then the demo itself, then the ratios. Needs iperf3 (apt-get install iperf3). No root needed.
# Usage: Bench/demo-vs-kernel.sh [SIZE, default 1G] [extra demo options...]
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1G}"; shift || true
command -v iperf3 >/dev/null || { echo "iperf3 is not installed (apt-get install iperf3)" >&2; exit 1; }
dotnet build Cli -c Release -v q -nologo >/dev/null

port=52017
iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 & srv=$!
sleep 0.5
up=$(iperf3 -c 127.0.0.1 -p $port -n "$size" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
wait $srv || true
iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 & srv=$!
sleep 0.5
down=$(iperf3 -c 127.0.0.1 -p $port -n "$size" -R -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
wait $srv || true

out=$(dotnet Cli/bin/Release/net10.0/NetStack.Cli.dll demo --download "$size" --upload "$size" --raw-tcp "$size" --no-progress "$@")
echo "$out"
gbps() { echo "$out" | awk -v k="$1" '$1==k || ($1" "$2)==k { for (i=1;i<=NF;i++) if ($i=="Gbit/s,") print $(i-1) }'; }
d=$(gbps download); u=$(gbps upload); r=$(gbps "raw TCP")
echo
printf 'kernel loopback (iperf3, 1 stream): send %.2f Gbit/s, reverse %.2f Gbit/s\n' "$up" "$down"
python3 - "$d" "$u" "$r" "$up" "$down" <<'PY'
import sys
d,u,r,ku,kd=map(float,sys.argv[1:])
k=(ku+kd)/2
print(f"ratio to the kernel: download {d/kd:.3f}x, upload {u/ku:.3f}x, raw TCP {r/k:.3f}x (goal >= 0.5x)")
PY
