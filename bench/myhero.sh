#!/usr/bin/env bash
# Benchmark: myhero-data's sustained votes per second under wrk at 64
# connections (direct mode: POST /vote/<hero> straight to myhero-data), with
# every acknowledged vote durable (fdatasync'd group commit), plus its RSS.
# After the run myhero-data is killed with SIGKILL and restarted on the same
# directory; the script checks that at least every acknowledged (2xx) vote
# was recovered. There is no peer for this workload (the original Python
# service loses votes under concurrency), so the figures are printed for
# later runs to compare against.
#
# Usage: bench/myhero.sh [seconds]   (env: MYHERO_DATA_BIN to skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-15}"
CONNS=64
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/setup.sh --test-peers" >&2; exit 1; }

BIN="${MYHERO_DATA_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build -q --profile perf -p myhero-data
  BIN="${CARGO_TARGET_DIR:-target}/perf/myhero-data"
fi

WORK="$(mktemp -d /tmp/myhero-bench.XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
start() {
  PORT="$PORT" myhero_data_key=BenchKey myhero_data_dir="$WORK/data" RUST_LOG=warn "$BIN" >>"$WORK/data.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/hero_list" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "myhero-data did not start; log:" >&2; cat "$WORK/data.log" >&2; exit 1
}
start

cat >"$WORK/vote.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["key"] = "BenchKey"
local heroes = {"Deadpool", "Batman", "Wonder%20Woman", "Star-Lord"}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/vote/" .. heroes[(i % 4) + 1])
end
LUA

echo "== wrk: ${CONNS} connections, ${SECS}s, POST /vote/<hero> against myhero-data (fdatasync group commit)"
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/vote.lua" "http://127.0.0.1:$PORT" | tee "$WORK/wrk.txt"

RSS_KB="$(awk '/VmRSS/ {print $2}' /proc/$PID/status)"
HWM_KB="$(awk '/VmHWM/ {print $2}' /proc/$PID/status)"
TOTAL="$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")"
NON2XX="$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.txt")"; NON2XX="${NON2XX:-0}"
ERRS="$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' "$WORK/wrk.txt")"; ERRS="${ERRS:-0}"
RPS="$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")"
ACKED=$((TOTAL - NON2XX))

kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
start
COUNTED="$(curl -fsS "http://127.0.0.1:$PORT/results" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin).values()))')"

echo
echo "== myhero-data results"
printf 'votes/s (acknowledged, durable): %s\n' "$RPS"
printf 'acknowledged votes (2xx):        %s (non-2xx %s, socket errors %s)\n' "$ACKED" "$NON2XX" "$ERRS"
printf 'votes on disk after kill -9:     %s\n' "$COUNTED"
printf 'RSS at end of run:               %s KiB (peak %s KiB)\n' "$RSS_KB" "$HWM_KB"
if [ "$COUNTED" -lt "$ACKED" ]; then
  echo "FAIL: $((ACKED - COUNTED)) acknowledged votes were lost" >&2
  exit 1
fi
echo "durability: ok (every acknowledged vote recovered; ratio on-disk/acknowledged = $(python3 -c "print(round($COUNTED/$ACKED, 4))"))"
