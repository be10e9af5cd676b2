#!/usr/bin/env bash
# `netstack run`'s measured goals (issue 16) in one place: start-up against pasta (farm-bench, paired runs), peak RSS
# under iperf3 -P 32 each way (rss-peers.sh's method: VmHWM of the netstack process), and iperf3 under
# --delay 50ms --loss 1% --seed 1 twice each way beside the Mathis bound. Builds netstack the fast way the README
# gives (NativeAOT publish; BUILD=jit uses `dotnet build`'s output instead). Needs iperf3, pasta, farm-bench.
# Run as root (it makes the user 'bench' for pasta, which refuses root, as ../shared/bench/*.sh do).
# Usage: Bench/run-vs-peers.sh [startup|rss|mathis|all, default all]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
out=/tmp/netstack-run-bench
if [ "${BUILD:-aot}" = jit ]; then
  dotnet build Cli -c Release -v q -nologo >/dev/null
  ns="$PWD/Cli/bin/Release/net10.0/netstack"
else
  dotnet publish Cli -c Release -r linux-x64 -p:PublishAot=true -v q -nologo -o "$out" >/dev/null
  ns="$out/NetStack.Cli"
fi
id bench >/dev/null 2>&1 || useradd -m bench
chmod 0666 /dev/net/tun

if [ "$what" = startup ] || [ "$what" = all ]; then
  # pasta refuses to run as root: both run as 'bench', so both pay setpriv's exec.
  as_bench="setpriv --reuid=bench --regid=bench --init-groups --"
  farm-bench -n 10 --vs "$as_bench pasta --config-net -- true" -- $as_bench "$ns" run -- true
fi

if [ "$what" = rss ] || [ "$what" = all ]; then
  for R in "" "-R"; do
    iperf3 -s -B 127.0.0.1 -p 5201 -1 >/dev/null 2>&1 & srv=$!; sleep 0.3
    "$ns" run --allow-host-loopback -- iperf3 -c 10.0.2.2 -p 5201 -t 5 -P 32 $R > /tmp/rss-ours.out 2>&1 & o=$!; m=0
    while kill -0 $o 2>/dev/null; do r=$(awk '/VmHWM/ {print $2}' /proc/$o/status 2>/dev/null || true); [ -n "$r" ] && m=$r; sleep 0.2; done
    wait $srv 2>/dev/null || true
    echo "${R:-up} -P 32: $(grep -E 'SUM.*receiver' /tmp/rss-ours.out | awk '{print $(NF-2), $(NF-1)}' | tail -1), peak RSS $m kB"
  done
fi

if [ "$what" = mathis ] || [ "$what" = all ]; then
  # Mathis et al. 1997: rate <= MSS/RTT * 1.22/sqrt(p); RTT = 2 x 50 ms, p = 0.01; MSS as each sender segments.
  for run in 1 2; do
    for R in "" "-R"; do
      iperf3 -s -B 127.0.0.1 -p 5202 -1 >/dev/null 2>&1 & srv=$!; sleep 0.3
      "$ns" run --allow-host-loopback --stats --delay 50ms --loss 1% --seed 1 -- iperf3 -c 10.0.2.2 -p 5202 -t 20 $R > /tmp/mathis.out 2>&1 || true
      wait $srv 2>/dev/null || true
      echo "run $run ${R:-up}: $(grep -E 'receiver' /tmp/mathis.out | awk '{print $(NF-2), $(NF-1)}' | tail -1); $(grep -o 'SegmentsWritten=[0-9]*\|BytesWritten=[0-9]*' /tmp/mathis.out | head -2 | tr '\n' ' ')"
    done
  done
  echo "Mathis bound at MSS 65468 (MTU 65520): $(python3 -c 'print(round(65468*8/0.1*1.22/0.1/1e6,1))') Mbit/s; at the down direction's segment size: BytesWritten/SegmentsWritten above"
fi
