#!/usr/bin/env bash
# Fuzz one NetStack target with libFuzzer (or afl-fuzz) through SharpFuzz.
#
#   Fuzz/run.sh <target> [seconds]          libFuzzer, default 60 s, prints exec/s and total executions
#   Fuzz/run.sh <target> [seconds] --afl    afl-fuzz instead
#   Fuzz/run.sh <target> merge              add the scratch corpus's coverage-increasing inputs to Fuzz/Corpora/<target>
#   Fuzz/run.sh list                        the targets
#
# Installs what it needs on first use: clang and libFuzzer (Debian: clang-14, libclang-rt-14-dev), the
# SharpFuzz.CommandLine dotnet tool (into Fuzz/.work/tools), and for --afl, afl++. Builds the libFuzzer driver
# from Fuzz/driver/netstack-libfuzzer.c, publishes NetStack.Fuzz, instruments NetStack.dll, NetStack.Link.dll,
# NetStack.Gro.dll and NetStack.Proxy.dll (the pcap dissector lives in NetStack.Link) with sharpfuzz, and fuzzes from Fuzz/Corpora/<target>/ into a scratch corpus under Fuzz/.work.
# Crashes land in Fuzz/.work/artifacts/<target>/; keep one by copying it to Fuzz/Corpora/<target>/crashes/.
#
# Environment: FUZZ_NO_BUILD=1 (reuse the last instrumented publish), FUZZ_JOBS (libFuzzer -jobs/-workers, default 1), FUZZ_MAX_LEN (default 4096),
# FUZZ_ARGS (extra libFuzzer flags), SHARPFUZZ_VERSION (default 2.3.0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
work="$here/.work"
out="$work/publish"
tools="$work/tools"
target="${1:-}"
seconds="${2:-60}"
engine="libfuzzer"
[[ "${3:-}" == "--afl" || "${2:-}" == "--afl" ]] && engine="afl"
[[ "${2:-}" == "merge" ]] && engine="merge"
[[ "$seconds" == "--afl" ]] && seconds=60

if [[ -z "$target" ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi

log() { printf '[fuzz] %s\n' "$*" >&2; }

apt_install() {
  if ! dpkg -s "$@" >/dev/null 2>&1; then
    log "installing $*"
    if [[ -z "${FUZZ_APT_UPDATED:-}" ]]; then apt-get update -qq; export FUZZ_APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

publish() {
  log "publishing NetStack.Fuzz (Release) to $out"
  rm -rf "$out"
  dotnet publish "$here/Fuzz.csproj" -c Release -o "$out" -p:UseAppHost=true -nologo -v quiet >/dev/null
  if [[ "$target" == "list" ]]; then return; fi
  if [[ ! -x "$tools/sharpfuzz" ]]; then
    log "installing SharpFuzz.CommandLine ${SHARPFUZZ_VERSION:-2.3.0} into $tools"
    dotnet tool install SharpFuzz.CommandLine --version "${SHARPFUZZ_VERSION:-2.3.0}" --tool-path "$tools" >/dev/null
  fi
  for dll in NetStack.dll NetStack.Link.dll NetStack.Gro.dll NetStack.Proxy.dll; do
    if [[ -f "$out/$dll" ]]; then
      log "instrumenting $dll"
      "$tools/sharpfuzz" "$out/$dll" >/dev/null
    fi
  done
}

if [[ "$target" == "list" ]]; then
  dotnet run --project "$here/Fuzz.csproj" -c Release -- list
  exit 0
fi

mkdir -p "$work"
if [[ -n "${FUZZ_NO_BUILD:-}" && -x "$out/NetStack.Fuzz" ]]; then
  log "FUZZ_NO_BUILD set: reusing $out"
else
  publish
fi
if ! "$out/NetStack.Fuzz" list | grep -qx "$target"; then
  echo "unknown target '$target'; targets:" >&2
  "$out/NetStack.Fuzz" list >&2
  exit 2
fi

seeds="$here/Corpora/$target"
corpus="$work/corpus/$target"
artifacts="$work/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
logfile="$work/$target.$engine.log"

if [[ "$engine" == "libfuzzer" || "$engine" == "merge" ]]; then
  apt_install clang-14 libclang-rt-14-dev
  driver="$work/netstack-libfuzzer"
  if [[ ! -x "$driver" || "$here/driver/netstack-libfuzzer.c" -nt "$driver" ]]; then
    log "building the libFuzzer driver"
    clang-14 -O2 -fsanitize=fuzzer "$here/driver/netstack-libfuzzer.c" -o "$driver"
  fi
fi
if [[ "$engine" == "merge" ]]; then
  # libFuzzer -merge=1: inputs of the scratch corpus that reach edges the seeds do not are copied into the seeds
  # (named by their SHA-1; hit counts are ignored, see NETSTACK_FUZZ_EDGES_ONLY in the driver); then replay and commit.
  before=$(ls "$seeds" | wc -l)
  NETSTACK_FUZZ_EDGES_ONLY=1 "$driver" -merge=1 -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$artifacts/" \
    --target_path="$out/NetStack.Fuzz" --target_arg="$target" "$seeds" "$corpus" >"$work/$target.merge.log" 2>&1
  echo "target=$target merged: $(( $(ls "$seeds" | wc -l) - before )) input(s) added to $seeds (log: $work/$target.merge.log)"
  exit 0
fi
if [[ "$engine" == "libfuzzer" ]]; then
  log "libFuzzer on $target for $seconds s (log: $logfile)"
  jobs=(); [[ "${FUZZ_JOBS:-1}" != 1 ]] && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  set +e
  # shellcheck disable=SC2086
  "$driver" -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${jobs[@]}" ${FUZZ_ARGS:-} \
    --target_path="$out/NetStack.Fuzz" --target_arg="$target" "$corpus" "$seeds" 2>&1 | tee "$logfile" |
    grep --line-buffered -E '(pulse|DONE|INITED|^stat::|netstack-libfuzzer|^==|Unhandled|Exception|^   at |SUMMARY|Test unit written)'
  status=${PIPESTATUS[0]}
  set -e
  execs=$(grep -m1 '^stat::number_of_executed_units' "$logfile" | awk '{print $2}')
  rate=$(grep -m1 '^stat::average_exec_per_sec' "$logfile" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$logfile" | tail -1 | grep -o 'cov: [0-9]*' || true)
  echo "target=$target engine=libFuzzer seconds=$seconds execs=${execs:-?} exec_per_sec=${rate:-?} ${cov:-} corpus=$(ls "$corpus" | wc -l) exit=$status"
  if [[ $status -ne 0 ]]; then
    echo "crash or error: see $logfile and $artifacts/" >&2
    exit "$status"
  fi
else
  apt_install afl++
  findings="$work/afl/$target"
  rm -rf "$findings"
  mkdir -p "$findings"
  log "afl-fuzz on $target for $seconds s (findings: $findings)"
  set +e
  AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 \
    timeout --signal=INT "$((seconds + 30))" \
    afl-fuzz -V "$seconds" -t 5000 -m none -i "$seeds" -o "$findings" -- "$out/NetStack.Fuzz" "$target" --afl >"$logfile" 2>&1
  status=$?
  set -e
  stats="$findings/default/fuzzer_stats"
  [[ -f "$stats" ]] || stats="$findings/fuzzer_stats"
  if [[ -f "$stats" ]]; then
    execs=$(awk -F: '/^execs_done/ {gsub(/ /,"",$2); print $2}' "$stats")
    rate=$(awk -F: '/^execs_per_sec/ {gsub(/ /,"",$2); print $2}' "$stats")
    crashes=$(awk -F: '/^(saved_crashes|unique_crashes)/ {gsub(/ /,"",$2); print $2}' "$stats")
    echo "target=$target engine=afl-fuzz seconds=$seconds execs=$execs exec_per_sec=$rate crashes=$crashes exit=$status"
  else
    echo "afl-fuzz did not start: see $logfile" >&2
    exit 1
  fi
fi
