#!/usr/bin/env bash
# bench/serverless.sh — Knative Services on ferry: cold start from zero to
# first byte, and what a warm request pays for going through a ksvc.
#
# The function is `ferry fn new --template http-rust` (a std-only Rust HTTP
# server, a static binary in a FROM scratch image), deployed with `ferry fn
# deploy` to one region's `ferry up`: built without a daemon, pushed to the
# region's registry, its image pre-warmed (pulled and unpacked before any
# request), so every cold start finds it cached locally.
#
#   * cold start: N times (default 20), wait until the revision has no pod
#     at all (window 6 s, the shortest Knative allows; grace period 1 s),
#     then one curl through the region's gateway: time to the first byte of
#     the answer (`time_starttransfer`). p50 and p99 (with N=20, p99 is the
#     slowest sample), beside Knative Serving's published ~4 s (no mesh;
#     10–15 s with Istio). Then the runtime's mean per phase from
#     `ferry_runtime_cold_start_seconds` (schedule, image, rootfs, process,
#     readiness).
#   * warm: the same image as a ksvc kept at one pod (min-scale 1) and as a
#     plain Deployment + Service + Ingress, through the same gateway: wrk
#     (1 thread, 4 connections, WARM_SECS each) alternating A B A B A B, the
#     median of each side's p99. Target: the ksvc within 5 % of the plain
#     Service (the activator only holds requests while a revision has no
#     ready pod).
#
# Needs root, runc, cargo, curl, wrk, jq, python3. FERRY defaults to the
# perf binary, built first (cargo build --profile perf -p ferry).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FERRY:-}" ]; then cargo build --profile perf -p ferry >&2; fi
. bench/lib.sh
bench_init serverless
N=${N:-20}
WARM_SECS=${WARM_SECS:-10}
export XDG_DATA_HOME="$work/xdg"

cleanup() {
  ferry_down
  rm -rf "$work"
}
trap cleanup EXIT

ferry_up
ep=$(ferry_api endpoints)
gw=$(echo "$ep" | jq -r .gateway)

# --- the function: new, deploy (built, pushed, pre-warmed) --------------------
"$FERRY" fn new coldfn --template http-rust --dir "$work/coldfn" >/dev/null
sed -i 's/window: "60s"/window: "6s"/; s/^    spec:$/    spec:\n      terminationGracePeriodSeconds: 1/' "$work/coldfn/service.yaml"
t0=$(now)
"$FERRY" fn deploy "$work/coldfn" 2>"$work/deploy.log" | tail -1
echo "fn deploy (cargo build, image build, push, apply, pre-warm): $(printf '%.1f' "$(since "$t0")") s"
image=$(ferry_api objects/ksvc/default/coldfn | jq -r '.spec.template.spec.containers[0].image')

pods_of() { # service -> number of pods (terminating ones included)
  ferry_api "objects/pods?namespace=default&labelSelector=serving.knative.dev/service%3D$1" | jq '.items | length'
}
no_pods() { [ "$(pods_of coldfn)" = 0 ]; }
ttfb() { # host -> seconds to the first byte of a 200
  curl -sf -o /dev/null -m 30 -w '%{time_starttransfer}\n' -H "Host: $1" "http://$gw/"
}

# --- cold starts ---------------------------------------------------------------
: > "$work/cold.txt"
for i in $(seq "$N"); do
  poll_until 60 0.05 no_pods
  ttfb coldfn.default.example.com >> "$work/cold.txt"
  printf '\r  cold start %d/%d: %s s   ' "$i" "$N" "$(tail -1 "$work/cold.txt")" >&2
done
echo >&2
metrics=$(curl -sf "$FERRY_SERVER/metrics" | grep '^ferry_runtime_cold_start_seconds_\(sum\|count\)' || true)

# --- warm: ksvc vs plain Service through the same gateway ----------------------
cat > "$work/warm.yaml" <<YAML
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: warmfn}
spec:
  template:
    metadata:
      annotations: {autoscaling.knative.dev/min-scale: "1"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - image: $image
        ports: [{containerPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plainfn}
spec:
  replicas: 1
  selector: {matchLabels: {app: plainfn}}
  template:
    metadata: {labels: {app: plainfn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: fn
        image: $image
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: plainfn}
spec:
  selector: {app: plainfn}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: plainfn}
spec:
  rules:
  - host: plainfn.bench.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: plainfn, port: {number: 80}}}}
YAML
"$FERRY" apply -f "$work/warm.yaml" >/dev/null
poll_until 60 0.2 ttfb warmfn.default.example.com >/dev/null
poll_until 60 0.2 ttfb plainfn.bench.test >/dev/null

p99_ms() { # host -> wrk's p99 in ms
  wrk -t1 -c4 -d"${WARM_SECS}s" --latency -H "Host: $1" "http://$gw/" |
    awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; print v }'
}
: > "$work/warm.txt"
wrk -t1 -c4 -d2s -H "Host: warmfn.default.example.com" "http://$gw/" >/dev/null
wrk -t1 -c4 -d2s -H "Host: plainfn.bench.test" "http://$gw/" >/dev/null
for _ in 1 2 3; do
  echo "ksvc $(p99_ms warmfn.default.example.com)" >> "$work/warm.txt"
  echo "plain $(p99_ms plainfn.bench.test)" >> "$work/warm.txt"
done

# --- report --------------------------------------------------------------------
python3 - "$work/cold.txt" "$work/warm.txt" "$metrics" <<'PY'
import statistics, sys
cold = sorted(float(x) * 1000 for x in open(sys.argv[1]).read().split())
def pct(xs, p):
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]
print(f"cold start, zero to first byte (n={len(cold)}, image cached locally):")
print(f"  p50 {pct(cold, 50):7.1f} ms   (target < 150 ms)")
print(f"  p99 {pct(cold, 99):7.1f} ms   (target < 400 ms)")
print(f"  min {cold[0]:7.1f} ms, max {cold[-1]:7.1f} ms")
print("  Knative Serving, published: ~4000 ms without a mesh, 10000-15000 ms with Istio")
sums, counts = {}, {}
for line in sys.argv[3].splitlines():
    name, value = line.rsplit(" ", 1)
    phase = name.split('phase="')[1].split('"')[0]
    (sums if "_sum" in name else counts)[phase] = float(value)
if counts:
    print("  the runtime's phases (mean over its cold starts, ferry_runtime_cold_start_seconds):")
    for p in ["schedule", "image", "rootfs", "process", "readiness", "total"]:
        if counts.get(p):
            print(f"    {p:<10} {sums[p] / counts[p] * 1000:7.1f} ms")
warm = {"ksvc": [], "plain": []}
for line in open(sys.argv[2]):
    side, v = line.split()
    warm[side].append(float(v))
k, p = statistics.median(warm["ksvc"]), statistics.median(warm["plain"])
print(f"warm p99 through the gateway (wrk -c4, median of {len(warm['ksvc'])} runs each):")
print(f"  ksvc (min-scale 1) {k:.3f} ms   runs {warm['ksvc']}")
print(f"  plain Service      {p:.3f} ms   runs {warm['plain']}")
print(f"  difference {100 * (k - p) / p:+.1f} %   (target within 5 %)")
PY
