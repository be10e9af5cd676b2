#!/usr/bin/env bash
# Throughput and memory of the TUN layer against the kernel's TCP (BENCHMARKS.md, "Linux TUN").
# Usage (root): Tests/Interop/tun-bench.sh [seconds] [matrix]   matrix: full (default) | quick | gro | ab
#   ab: A/B, alternating, REPS times each (default 2) at MTU 1500 and 65520: B is this build with AB_FLAGS
#       (default "--verify-checksums"), or another build's NetStack.Cli.dll given as AB_CLI (then AB_FLAGS default empty)
# Builds nothing: run `dotnet build Cli -c Release` first. Uses only a namespace it makes (and removes).
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${1:-5}
MATRIX=${2:-full}
NS=nsbench-$$
CLI=${CLI:-Cli/bin/Release/net10.0/NetStack.Cli.dll}
SERVE_CLI=$CLI
DEV=nsbench0
SERVE_PID=

cleanup() {
  [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

gbps() { python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]; print("%.2f" % (d["sum_received"]["bits_per_second"]/1e9))'; }

iperf() { # iperf3 client args… → Gbit/s received
  ip netns exec "$NS" iperf3 -J "$@" | gbps
}

start_serve() { # mtu offload inbound [extra…]
  local mtu=$1 offload=$2 inbound=$3; shift 3
  ip -n "$NS" link del "$DEV" 2>/dev/null || true
  ip -n "$NS" tuntap add dev "$DEV" mode tun
  ip -n "$NS" link set "$DEV" mtu "$mtu"
  ip -n "$NS" addr add 10.202.0.1/24 dev "$DEV"
  ip -n "$NS" link set "$DEV" up
  ip netns exec "$NS" dotnet "$SERVE_CLI" serve --tun "$DEV" --address 10.202.0.2/24 --mtu "$mtu" --offload "$offload" --inbound-gso "$inbound" "$@" > /tmp/$NS.serve 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 100); do
    if grep -q '; ready' /tmp/$NS.serve; then
      # Warm-up both ways (tiered JIT compiles the hot paths in the first seconds): measure the steady state.
      ip netns exec "$NS" iperf3 -c 10.202.0.2 -t 2 > /dev/null
      ip netns exec "$NS" iperf3 -c 10.202.0.2 -t 2 -R > /dev/null
      return 0
    fi
    sleep 0.1
  done
  cat /tmp/$NS.serve; exit 1
}

stop_serve() {
  kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=
}

echo "# $(date -u +%F) commit $(git rev-parse --short HEAD), kernel $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${T} s per run"
ip netns exec "$NS" iperf3 -s -D -B 127.0.0.1 -p 5301
sleep 0.3
LO_FWD=$(iperf -c 127.0.0.1 -p 5301 -t "$T")
LO_REV=$(iperf -c 127.0.0.1 -p 5301 -t "$T" -R)
echo "loopback (kernel <-> kernel) single stream: $LO_FWD Gbit/s, -R $LO_REV Gbit/s"
echo
echo "| offload | MTU | inbound GSO | GRO on write | variant | kernel -> stack Gbit/s | ÷ loopback | stack -> kernel Gbit/s | ÷ loopback |"
echo "|---|---:|---|---|---|---:|---:|---:|---:|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
run() { # mtu offload inbound gro [variant [serve flags…]]
  local mtu=$1 offload=$2 inbound=$3 gro=$4 variant=${5:-default} extra=()
  shift 4; [ $# -gt 0 ] && shift
  extra+=("$@")
  [ "$gro" = off ] && extra+=(--no-gro-on-write)
  start_serve "$mtu" "$offload" "$inbound" "${extra[@]}"
  local up down
  up=$(iperf -c 10.202.0.2 -t "$T")
  down=$(iperf -c 10.202.0.2 -t "$T" -R)
  stop_serve
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$offload" "$mtu" "$inbound" "$gro" "$variant" "$up" "$(ratio "$up" "$LO_FWD")" "$down" "$(ratio "$down" "$LO_REV")"
}
if [ "$MATRIX" = quick ]; then
  run 1500 auto deliver on
elif [ "$MATRIX" = ab ]; then
  if [ -n "${AB_CLI:-}" ]; then read -r -a AB <<< "${AB_FLAGS:-}"; LABEL="B: ${AB_CLI}${AB_FLAGS:+ ${AB_FLAGS}}"
  else read -r -a AB <<< "${AB_FLAGS:---verify-checksums}"; LABEL="B: ${AB[*]}"; fi
  for mtu in 1500 65520; do
    for _ in $(seq "${REPS:-2}"); do
      run "$mtu" auto deliver on "A: this build"
      SERVE_CLI=${AB_CLI:-$CLI}
      run "$mtu" auto deliver on "$LABEL" "${AB[@]}"
      SERVE_CLI=$CLI
    done
  done
elif [ "$MATRIX" = gro ]; then
  run 1500 auto deliver on
  run 1500 auto deliver off
  run 1500 off deliver off
else
  for mtu in 1500 65520; do
    run "$mtu" auto deliver on
    run "$mtu" auto split on
    run "$mtu" auto deliver off
    run "$mtu" off deliver off
  done
fi
echo
# Peak RSS of the serve process under 32 parallel streams (VmHWM), each direction.
start_serve 1500 auto deliver
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$SERVE_PID/status)
P32_FWD=$(iperf -c 10.202.0.2 -t "$T" -P 32)
P32_REV=$(iperf -c 10.202.0.2 -t "$T" -P 32 -R)
HWM=$(awk '/VmHWM/ {print $2}' /proc/$SERVE_PID/status)
stop_serve
echo "iperf3 -P 32: kernel -> stack $P32_FWD Gbit/s, stack -> kernel $P32_REV Gbit/s; serve RSS idle $((RSS0 / 1024)) MB, peak (VmHWM) $((HWM / 1024)) MB"
