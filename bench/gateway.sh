#!/usr/bin/env bash
# bench/gateway.sh — ferry's gateway against nginx and HAProxy, side by side,
# each proxying to the same two backends with 50/50 weights.
#
# Measures, for each proxy pinned to CPU 0 (one core: nginx and HAProxy with
# one worker, ferry as shipped, `ferry gateway serve --workers 1`, one
# thread; the load generators and the backends share CPU 1):
#   * p99 latency added over calling a backend directly, at fixed rates
#     (1k and 10k requests/s; the crate's open-loop `loadgen` example,
#     latency measured from each request's scheduled time);
#   * saturation throughput (wrk, 64 connections), and the requests served
#     per CPU-second the proxy used during it (a single-core capacity that
#     other load on the machine disturbs far less than the raw rate);
#   * user-space instructions per proxied request (`ir`), counted by
#     valgrind's callgrind over a wrk run (each proxy alone, on its own
#     port, counters zeroed after a warm-up): unlike times, a count that
#     other load on this shared machine cannot disturb;
#   * memory held by idle keep-alive connections: resident set size (all
#     processes of the proxy) while IDLE_CONNS clients that each sent one
#     request stay connected, minus the resident set size before they came,
#     measured the same way for all three.
# Latency and throughput run ROUNDS times, the three proxies one after
# another in every round, each round starting with the next one (so
# background load hits them alike); memory is
# measured once, first, on the fresh processes. The report gives medians and
# the ratios ferry ÷ nginx and ferry ÷ haproxy.
#
# Usage: bench/gateway.sh   (env: DURATION=seconds per run, default 10;
#                            IDLE_CONNS, default 9900; ROUNDS, default 3;
#                            TESTS, default "lat sat mem ir"; SKIP_BUILD=1;
#                            FERRY_BIN, default the perf build of `ferry`)
# Needs: nginx, haproxy, wrk, valgrind (Debian), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
IDLE_CONNS=${IDLE_CONNS:-9900}  # HAProxy needs 2 fds per connection within the 20000 fd limit
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-lat sat mem ir}
WORK=$(mktemp -d /tmp/ferry-bench-gateway.XXXXXX)
B1=19101 B2=19102 NGX=19201 HAP=19202 FRY=19203
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 20000 here; IDLE_CONNS must fit

echo "building ferry and the load generator (perf profile)..." >&2
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && cargo build -q --profile perf -p ferry && cargo build -q --profile perf -p ferry-gateway --example loadgen)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
FERRY_BIN="${FERRY_BIN:-$TARGET/perf/ferry}"
LOADGEN="$TARGET/perf/examples/loadgen"

# --- backends: a trivial static answer, on CPU 1 ---
mkdir -p "$WORK/be" "$WORK/ngx" "$WORK/logs"
cat > "$WORK/be/nginx.conf" <<EOF
worker_processes 1; pid $WORK/be/nginx.pid; error_log $WORK/logs/be.err;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:$B1 backlog=4096; location / { return 200 "v1\n"; } }
  server { listen 127.0.0.1:$B2 backlog=4096; location / { return 200 "v2\n"; } } }
EOF
taskset -c 1 nginx -p "$WORK/be" -c "$WORK/be/nginx.conf" -g 'daemon off;' & PIDS+=($!)

# --- nginx proxy ---
cat > "$WORK/ngx/nginx.conf" <<EOF
worker_processes 1; worker_rlimit_nofile 19990; pid $WORK/ngx/nginx.pid; error_log $WORK/logs/ngx.err;
events { worker_connections 30000; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  upstream be { server 127.0.0.1:$B1 weight=50; server 127.0.0.1:$B2 weight=50; keepalive 256; keepalive_requests 10000000; }
  server { listen 127.0.0.1:$NGX backlog=4096;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
taskset -c 0 nginx -p "$WORK/ngx" -c "$WORK/ngx/nginx.conf" -g 'daemon off;' & PIDS+=($!); NGX_PID=$!

# --- HAProxy ---
cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9950
  ulimit-n 19990
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
frontend f
  bind 127.0.0.1:$HAP
  default_backend b
backend b
  balance roundrobin
  server s1 127.0.0.1:$B1 weight 50
  server s2 127.0.0.1:$B2 weight 50
EOF
taskset -c 0 haproxy -f "$WORK/haproxy.cfg" -db 2>"$WORK/logs/haproxy.err" & PIDS+=($!); HAP_PID=$!

# --- ferry: the same split as an Istio VirtualService; the two backends
# as a ServiceEntry listing their addresses ---
cat > "$WORK/routes.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - {destination: {host: web, subset: v1}, weight: 50}
    - {destination: {host: web, subset: v2}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: $B1}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: $B2}, labels: {version: v2}}
EOF
# Access logs are off on all three: nginx's `access_log off`, HAProxy's
# default (no `log` line), and ferry's per-request `ferry::access` event
# (on at info level by default; 2.2x the instructions per request when
# written to a file, about 50k instead of 22k).
FERRY_LOG="info,ferry::access=off"
RUST_LOG=$FERRY_LOG taskset -c 0 "$FERRY_BIN" gateway serve --workers 1 --listen 127.0.0.1:$FRY -f "$WORK/routes.yaml" \
  >"$WORK/logs/ferry.out" 2>"$WORK/logs/ferry.err" & PIDS+=($!); FRY_PID=$!

wait_port() { for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; cat "$WORK"/logs/* >&2; exit 1; }
for p in $B1 $B2 $NGX $HAP $FRY; do wait_port $p; done

# Check the split really is 50/50 on every proxy: a proxy sending outside
# 45-55 % of 200 requests to v1 is not doing the work being compared.
for p in $NGX $HAP $FRY; do
  v1=$(for _ in $(seq 1 200); do curl -s "http://127.0.0.1:$p/"; done | grep -c v1 || true)
  echo "port $p: $v1/200 to v1" >&2
  if [ "$v1" -lt 90 ] || [ "$v1" -gt 110 ]; then
    echo "port $p splits $v1/200 to v1, outside 45-55 %: not a 50/50 proxy, stopping" >&2
    exit 1
  fi
done

p99() { # rate port -> "p99-ms requests-over-1-ms-late" (errors are reported on stderr)
  local out; out=$(taskset -c 1 "$LOADGEN" "http://127.0.0.1:$2/" "$1" "$DURATION" 64)
  echo "  $2 @ $1/s: $out" >&2
  echo "$out" | sed -E 's/.*p99=([0-9.]+).*over_1ms=([0-9]+).*/\1 \2/'
}
# CPU time (user + system, clock ticks) of a process and its children.
cpu_ticks() { local t=0; for q in $1 $(pgrep -P "$1" || true); do
  t=$((t + $(awk '{print $14 + $15}' /proc/$q/stat))); done; echo $t; }
# sat port pid -> "req/s requests-per-CPU-second": wrk's rate, and the
# requests the proxy served per second of CPU it used (what one core would
# serve; unlike the rate, it holds when other work shares the machine).
sat() {
  local c0 c1 out n
  c0=$(cpu_ticks "$2")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$1/")
  c1=$(cpu_ticks "$2")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$n * $(getconf CLK_TCK) / ($c1 - $c0)" | bc -l)"
}
rss_kb() { local t=0; for pid in "$@"; do for q in $pid $(pgrep -P "$pid" || true); do
  t=$((t + $(awk '/VmRSS/ {print $2}' /proc/$q/status))); done; done; echo $t; }
hold_idle() { # port file -> holds IDLE_CONNS keep-alive connections until killed; prints its pid
  python3 - "$1" "$IDLE_CONNS" > "$2" <<'PY' &
import asyncio, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
async def one(conns):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); await w.drain()
    await r.readuntil(b"\r\n\r\n"); await r.read(3)
    conns.append((r, w))
async def main():
    conns = []
    for i in range(0, n, 500):
        await asyncio.gather(*(one(conns) for _ in range(min(500, n - i))))
    print("ready", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
PY
  echo $!
}

# ir name -> user-space instructions per request under callgrind (the
# proxy alone on port IRP, single process, counters zeroed after warm-up).
IRP=19211
ir() {
  local vp n total out cg="$WORK/cg.$1"
  case $1 in
    nginx) sed -e "s/127.0.0.1:$NGX/127.0.0.1:$IRP/" -e "s#$WORK/ngx/#$WORK/ngx-ir/#g" "$WORK/ngx/nginx.conf" > "$WORK/ngx-ir.conf"
           mkdir -p "$WORK/ngx-ir"
           taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$cg.%p" \
             nginx -p "$WORK/ngx-ir" -c "$WORK/ngx-ir.conf" -g 'daemon off; master_process off;' 2>"$WORK/logs/ir.nginx" & vp=$! ;;
    # (valgrind keeps the top file descriptors: no fd limit of 20000 here)
    haproxy) sed -e "s/127.0.0.1:$HAP/127.0.0.1:$IRP/" -e '/ulimit-n/d' -e 's/maxconn 9950/maxconn 1000/' \
               "$WORK/haproxy.cfg" > "$WORK/haproxy-ir.cfg"
           taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$cg.%p" \
             haproxy -f "$WORK/haproxy-ir.cfg" -db 2>"$WORK/logs/ir.haproxy" & vp=$! ;;
    ferry) RUST_LOG=$FERRY_LOG taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$cg.%p" \
             "$FERRY_BIN" gateway serve --workers 1 --listen 127.0.0.1:$IRP -f "$WORK/routes.yaml" \
             >/dev/null 2>"$WORK/logs/ir.ferry" & vp=$! ;;
  esac
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$IRP/" && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c64 -d2s "http://127.0.0.1:$IRP/" >/dev/null
  callgrind_control -z "$vp" >/dev/null
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$IRP/")
  callgrind_control -d "$vp" >/dev/null
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  kill "$vp"; wait "$vp" 2>/dev/null || true
  total=$(awk '/^summary:/ {print $2}' "$cg".*.1)
  echo "  $1 under callgrind: $n requests, $total instructions" >&2
  echo "$total / $n" | bc -l
}

declare -A R S # medians; space-separated samples per key
if [[ " $TESTS " == *" ir "* ]]; then
  for name in nginx haproxy ferry; do S[$name,ir]=$(ir $name); done
fi
median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
port_of() { case $1 in nginx) echo $NGX;; haproxy) echo $HAP;; ferry) echo $FRY;; direct) echo $B1;; esac; }
pid_of() { case $1 in nginx) echo $NGX_PID;; haproxy) echo $HAP_PID;; ferry) echo $FRY_PID;; esac; }
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  # Memory once, first, on the fresh processes: glibc keeps what a process
  # once held, so a second hold (or one after the load tests) would measure
  # the reuse of that memory, not what idle connections cost.
  if [[ " $TESTS " == *" mem "* ]] && [ "$round" = 1 ]; then
    for name in nginx haproxy ferry; do
      pid=$(pid_of $name); before=$(rss_kb "$pid")
      fifo="$WORK/hold.$name"; hp=$(hold_idle "$(port_of $name)" "$fifo")
      for _ in $(seq 1 600); do grep -q ready "$fifo" 2>/dev/null && break; sleep 0.1; done
      grep -q ready "$fifo" || { echo "$name: idle clients never connected" >&2; exit 1; }
      # Settled resident size: sample each second until it stops moving (an
      # allocator may hand freed pages back a few seconds after the burst of
      # connects), at most 20 s; the first sample is reported too.
      sleep 1; first=$(rss_kb "$pid"); after=$first
      for _ in $(seq 1 20); do
        sleep 1; now=$(rss_kb "$pid")
        [ $(( (after - now) * 200 )) -lt "$after" ] && [ $(( (now - after) * 200 )) -lt "$after" ] && { after=$now; break; }
        after=$now
      done
      echo "  $name RSS 1 s after the clients connected: $first KB; settled: $after KB" >&2
      kill "$hp" 2>/dev/null || true; wait "$hp" 2>/dev/null || true
      echo "  $name RSS: $before KB before, $after KB with $IDLE_CONNS idle connections" >&2
      S[$name,rss0]+=" $before"; S[$name,rss]+=" $after"; S[$name,drss]+=" $((after - before))"
    done
  fi
  # The proxies take turns going first: this machine's host preempts its
  # virtual CPUs for several milliseconds at a time, more often in some
  # stretches than others, and a fixed order would hand one proxy the
  # same place in every round.
  order=$(echo nginx haproxy ferry nginx haproxy ferry | cut -d' ' -f$(( (round - 1) % 3 + 1 ))-$(( (round - 1) % 3 + 3 )))
  if [[ " $TESTS " == *" lat "* ]]; then
    for rate in 1000 10000; do
      for name in direct $order; do
        read -r v late < <(p99 $rate "$(port_of $name)")
        S[$name,$rate]+=" $v"
        if [ "$rate" = 10000 ]; then S[$name,late]+=" $late"; fi
      done
    done
  fi
  if [[ " $TESTS " == *" sat "* ]]; then
    for name in $order; do
      read -r v e < <(sat "$(port_of $name)" "$(pid_of $name)")
      echo "  $name saturation: $v req/s, $e requests per CPU-second" >&2
      S[$name,sat]+=" $v"; S[$name,eff]+=" $e"
    done
  fi
done
for k in "${!S[@]}"; do R[$k]=$(median ${S[$k]}); done

python3 - "$IDLE_CONNS" "$ROUNDS" "$TESTS" <<REPORT
import sys
conns, rounds, tests = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split()
r = {$(for k in "${!R[@]}"; do printf '"%s": %s, ' "$k" "${R[$k]}"; done)"dur": $DURATION}
samples = {$(for k in "${!S[@]}"; do printf '"%s": [%s], ' "$k" "$(echo ${S[$k]} | tr ' ' ',')"; done)}
names = ["nginx", "haproxy", "ferry"]
print()
print(f"gateway benchmark: 50/50 weighted proxying to two static backends, proxy on 1 core; latency and throughput: median of {rounds} rounds")
rows = []
if "lat" in tests:
    for rate in (1000, 10000):
        d = r[f"direct,{rate}"]
        print(f"  direct backend p99 @{rate // 1000}k req/s: {d:.3f} ms (subtracted below)")
        # Raw differences: a proxy whose p99 is under the direct one's
        # (noise) shows a negative figure rather than a clamped one.
        rows.append((f"p99 added @{rate // 1000}k req/s (ms)", {n: r[f"{n},{rate}"] - d for n in names}, "lower"))
    # At 10k req/s the p99 sits at the edge of the requests caught in pauses
    # of the virtual CPU: this count shows whether a proxy met more of them.
    rows.append((f"requests >1 ms late @10k (of {10 * int(r['dur'])}k)", {n: r[f"{n},late"] for n in names}, None))
if "sat" in tests:
    rows.append(("saturation (req/s)", {n: r[f"{n},sat"] for n in names}, "higher"))
    rows.append(("requests per CPU-second", {n: r[f"{n},eff"] for n in names}, "higher"))
if "ir" in tests:
    rows.append(("user instructions per request", {n: r[f"{n},ir"] for n in names}, "lower"))
if "mem" in tests:
    rows.append(("RSS before clients (MB)", {n: r[f"{n},rss0"] / 1024 for n in names}, None))
    rows.append((f"RSS with {conns} idle conns (MB)", {n: r[f"{n},rss"] / 1024 for n in names}, None))
    rows.append(("idle conn memory (MB per 10k conns)", {n: r[f"{n},drss"] / 1024 * 10000 / conns for n in names}, "lower"))
print(f"{'':38} {'nginx':>10} {'haproxy':>10} {'ferry':>10} {'ferry/nginx':>12} {'ferry/haproxy':>14}")
for label, v, better in rows:
    ratio = lambda peer: f"x{v['ferry'] / v[peer]:.2f}" if v[peer] > 0 else "-"
    tail = f" {ratio('nginx'):>12} {ratio('haproxy'):>14}  ({better} is better)" if better else ""
    print(f"{label:38} {v['nginx']:>10.3f} {v['haproxy']:>10.3f} {v['ferry']:>10.3f}{tail}")
# Each round's own ratio (the runs of one round are minutes apart at most).
per_round = []
if "lat" in tests:
    for rate in (1000, 10000):
        d = samples[f"direct,{rate}"]
        per_round.append((f"p99 added @{rate // 1000}k", [(f - x) / (n - x) if n - x > 0 else None
            for f, n, x in zip(samples[f"ferry,{rate}"], samples[f"nginx,{rate}"], d)]))
if "sat" in tests:
    per_round.append(("saturation", [f / n for f, n in zip(samples["ferry,sat"], samples["nginx,sat"])]))
    per_round.append(("requests per CPU-second", [f / n for f, n in zip(samples["ferry,eff"], samples["nginx,eff"])]))
for label, ratios in per_round:
    print(f"  ferry/nginx per round, {label}: " + " ".join("n/a" if x is None else f"x{x:.2f}" for x in ratios))
if "mem" in tests:
    print(f"ferry: {r['ferry,drss'] / conns:.2f} KB per idle connection; "
          f"RSS with {conns} idle connections {r['ferry,rss'] / 1024:.1f} MB (issue #5 target < 40 MB)")
REPORT
