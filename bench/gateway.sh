#!/usr/bin/env bash
# bench/gateway.sh — ferry's gateway against nginx and HAProxy, side by side,
# each proxying to the same two backends with 50/50 weights.
#
# Measures, for each proxy pinned to CPU 0 (one core, one worker):
#   * p99 latency added over calling a backend directly, at fixed rates
#     (1k and 10k requests/s; the crate's open-loop `loadgen` example,
#     latency measured from each request's scheduled time);
#   * saturation throughput (wrk, 64 connections);
#   * resident memory while holding 10,000 idle keep-alive connections.
# and prints ratios against nginx. Load generator and backends share CPU 1.
#
# Usage: bench/gateway.sh        (env: DURATION=seconds per run, default 10;
#                                 IDLE_CONNS, default 10000)
# Needs: nginx, haproxy, wrk (Debian), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
IDLE_CONNS=${IDLE_CONNS:-9500}
WORK=$(mktemp -d /tmp/ferry-bench-gateway.XXXXXX)
B1=19101 B2=19102 NGX=19201 HAP=19202 FRY=19203
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "building ferry gateway (release)..." >&2
[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && cargo build -q --release -p ferry-gateway --example standalone --example loadgen)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
FERRY_BIN="$TARGET/release/examples/standalone"
LOADGEN="$TARGET/release/examples/loadgen"

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
worker_processes 1; worker_rlimit_nofile 19000; pid $WORK/ngx/nginx.pid; error_log $WORK/logs/ngx.err;
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
  maxconn 9800
  ulimit-n 19900
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

# --- ferry: the same split as an Istio VirtualService ---
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
EOF
FERRY_WORKERS=1 taskset -c 0 "$FERRY_BIN" --listen 127.0.0.1:$FRY --routes "$WORK/routes.yaml" \
  --service "default/web=v1@127.0.0.1:$B1,v2@127.0.0.1:$B2" 2>"$WORK/logs/ferry.err" & PIDS+=($!); FRY_PID=$!

wait_port() { for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; echo "port $1 never answered" >&2; cat "$WORK"/logs/* >&2; exit 1; }
for p in $B1 $B2 $NGX $HAP $FRY; do wait_port $p; done

# Check the split really is 50/50 on every proxy.
for p in $NGX $HAP $FRY; do
  v1=$(for _ in $(seq 1 200); do curl -s "http://127.0.0.1:$p/"; done | grep -c v1 || true)
  echo "port $p: $v1/200 to v1" >&2
done

p99() { # rate port -> p99 ms (errors are reported on stderr)
  local out; out=$(taskset -c 1 "$LOADGEN" "http://127.0.0.1:$2/" "$1" "$DURATION" 64)
  echo "  $2 @ $1/s: $out" >&2
  echo "$out" | sed -E 's/.*p99=([0-9.]+).*/\1/'
}
sat() { taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
rss_kb() { local t=0; for pid in "$@"; do for q in $pid $(pgrep -P "$pid" || true); do
  t=$((t + $(awk '/VmRSS/ {print $2}' /proc/$q/status))); done; done; echo $t; }
hold_idle() { # port -> holds IDLE_CONNS keep-alive connections until killed
  python3 - "$1" "$IDLE_CONNS" <<'PY' &
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

declare -A R
for rate in 1000 10000; do
  R[direct,$rate]=$(p99 $rate $B1)
  for name in nginx haproxy ferry; do
    case $name in nginx) port=$NGX;; haproxy) port=$HAP;; ferry) port=$FRY;; esac
    R[$name,$rate]=$(p99 $rate $port)
  done
done
for name in nginx haproxy ferry; do
  case $name in nginx) port=$NGX;; haproxy) port=$HAP;; ferry) port=$FRY;; esac
  R[$name,sat]=$(sat $port)
done
for name in nginx haproxy ferry; do
  case $name in nginx) port=$NGX pid=$NGX_PID;; haproxy) port=$HAP pid=$HAP_PID;; ferry) port=$FRY pid=$FRY_PID;; esac
  R[$name,rss0]=$(rss_kb $pid)
  fifo="$WORK/hold.$name"; hold_idle $port > "$fifo"; hp=$(tail -n1 "$fifo")
  for _ in $(seq 1 600); do grep -q ready "$fifo" 2>/dev/null && break; sleep 0.1; done
  sleep 1
  R[$name,rss]=$(rss_kb $pid)
  kill "$hp" 2>/dev/null || true; wait "$hp" 2>/dev/null || true
done

python3 - <<PY
r = {$(for k in "${!R[@]}"; do printf '"%s": "%s", ' "$k" "${R[$k]}"; done)}
f = lambda k: float(r[k])
print()
print("gateway benchmark: 50/50 weighted proxying to two static backends, proxy on 1 core")
print(f"{'':10} {'p99+ @1k (ms)':>15} {'p99+ @10k (ms)':>15} {'saturation rps':>15} {'RSS idle (MB)':>14} {'RSS 10k conns (MB)':>19}")
print(f"{'direct':10} {f('direct,1000'):>15.3f} {f('direct,10000'):>15.3f}   (backend p99, subtracted below)")
added = {}
for n in ["nginx", "haproxy", "ferry"]:
    a1 = max(f(f"{n},1000") - f("direct,1000"), 0.001); a10 = max(f(f"{n},10000") - f("direct,10000"), 0.001)
    added[n] = (a1, a10)
    print(f"{n:10} {a1:>15.3f} {a10:>15.3f} {f(n+',sat'):>15.0f} {f(n+',rss0')/1024:>14.1f} {f(n+',rss')/1024:>19.1f}")
print()
for n in ["haproxy", "ferry"]:
    print(f"{n} / nginx: p99 added @1k x{added[n][0]/added['nginx'][0]:.2f}, @10k x{added[n][1]/added['nginx'][1]:.2f} (lower is better); "
          f"saturation x{f(n+',sat')/f('nginx,sat'):.2f} (higher is better); memory with {$IDLE_CONNS} idle conns x{f(n+',rss')/f('nginx,rss'):.2f}")
print(f"ferry memory with {$IDLE_CONNS} idle keep-alive connections: {f('ferry,rss')/1024:.1f} MB (target < 40 MB)")
PY
