#!/usr/bin/env bash
# bench/runtime.sh — ferry's embedded runtime vs `podman kube play`, same
# machine, same run, same image (busybox httpd built with `ferry image`,
# copied into podman's storage with skopeo), same manifest (a Deployment,
# image cached, no network: ferry pods are loopback-only, podman runs with
# --network none).
#
# Measures, for 1, 10 and 50 replicas: wall time from apply to every pod
# running (ferry: `ferry apply`; podman: `podman kube play`, which returns
# once every container started; each one CLI process), then polled until
# all are up. Prints the ratio (podman / ferry; the target is >= 3). Then
# ferry's own memory (RSS of `ferry up`) for 100 running pods, minus its RSS
# with none (target < 50 MB).
#
# The same on both sides:
#   * polling: one curl request every 20 ms against each side's own served
#     API, never a CLI process per poll (whose start-up would dominate and
#     load the CPUs the containers start on): ferry's API
#     (`readyReplicas` of the Deployment; no readiness probe, so a pod is
#     ready once its container runs), and podman's REST API from `podman
#     system service` on a unix socket, started before the runs (the
#     pods' `Status` is `Running` once all their containers run);
#   * the OCI runtime: both call runc through the same wrapper, a shell
#     script that rewrites the bundle's config.json without
#     `process.rlimits` (jq) and execs runc. This sandbox forbids runc to
#     set limits, and podman always asks for some (containers.conf cannot
#     say "inherit"); ferry asks for none, so for ferry the rewrite changes
#     nothing, but it costs the same as for podman.
#
# Needs root, runc, podman, catatonit, skopeo, jq. FERRY defaults to the perf
# binary (cargo build --profile perf -p ferry).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init runtime
SIZES=${SIZES:-"1 10 50"}
MEM_PODS=${MEM_PODS:-100}
export CONTAINERS_CONF="$work/containers.conf"
svc_pid=""

cleanup() {
  ferry_down
  if [ -n "$svc_pid" ]; then kill "$svc_pid" 2>/dev/null || true; wait "$svc_pid" 2>/dev/null || true; fi
  for f in "$work"/podman-*.yaml; do [ -f "$f" ] && podman kube down "$f" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- image, built once, cached on both sides -------------------------------
"$FERRY" image build --httpd v1 --port 8080 -t bench-web:v1 --store "$work/local/runtime/images/store" >/dev/null
skopeo copy -q "oci:$work/local/runtime/images/store:bench-web:v1" containers-storage:localhost/bench-web:v1

# The OCI runtime wrapper both sides use (see the header).
cat > "$work/runc-norlimit" <<'WRAP'
#!/bin/bash
bundle=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle="$a" ;; esac
  case "$a" in --bundle=*) bundle="${a#--bundle=}" ;; esac
  prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  jq -c 'del(.process.rlimits)' "$bundle/config.json" > "$bundle/config.json.norlimit"
  mv "$bundle/config.json.norlimit" "$bundle/config.json"
fi
exec runc "$@"
WRAP
chmod +x "$work/runc-norlimit"
printf '[engine]\nruntime = "norlimit"\n[engine.runtimes]\nnorlimit = ["%s"]\n' "$work/runc-norlimit" > "$CONTAINERS_CONF"
export FERRY_OCI_RUNTIME="$work/runc-norlimit"

# podman's API, for polling (see the header).
podman system service --time=0 "unix://$work/podman.sock" > "$work/podman-service.log" 2>&1 &
svc_pid=$!
podman_api() { curl -sf --unix-socket "$work/podman.sock" "http://d/v4.0.0/libpod/$1"; }
for _ in $(seq 100); do podman_api _ping >/dev/null && break; sleep 0.1; done
podman_api _ping >/dev/null || { echo "podman system service did not answer" >&2; cat "$work/podman-service.log" >&2; exit 1; }

manifest() { # name replicas image
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $3
        imagePullPolicy: Never
YAML
}

# --- ferry up ----------------------------------------------------------------
ferry_up
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$up_pid/status"; }

ferry_ready() { # name replicas
  ferry_api "objects/deployments/default/$1" | grep -q "\"readyReplicas\":$2[,}]"
}
ferry_gone() {
  ferry_api objects/pods | grep -q '"items":\[\]'
}
podman_ready() { # replicas
  [ "$(podman_api pods/json | grep -o '"Status":"Running"' | wc -l)" = "$1" ]
}

# Warm-up on both sides: ferry unpacks the image into its rootfs cache on
# first use (podman's storage already holds it unpacked); podman builds its
# pause image on first use.
manifest warm 1 bench-web:v1 > "$work/warm.yaml"
"$FERRY" apply -f "$work/warm.yaml" >/dev/null
until ferry_ready warm 1; do sleep 0.05; done
"$FERRY" delete deploy warm >/dev/null
until ferry_gone; do sleep 0.1; done
manifest podman-warm 1 localhost/bench-web:v1 > "$work/podman-warm.yaml"
podman kube play --network none "$work/podman-warm.yaml" >/dev/null
podman kube down "$work/podman-warm.yaml" >/dev/null 2>&1

printf '%-9s %12s %12s %8s\n' replicas ferry_s podman_s ratio
for n in $SIZES; do
  manifest "ferry-$n" "$n" bench-web:v1 > "$work/ferry-$n.yaml"
  manifest "podman-$n" "$n" localhost/bench-web:v1 > "$work/podman-$n.yaml"

  t0=$(now)
  "$FERRY" apply -f "$work/ferry-$n.yaml" >/dev/null
  until ferry_ready "ferry-$n" "$n"; do sleep 0.02; done
  ferry_s=$(since "$t0")
  "$FERRY" delete deploy "ferry-$n" >/dev/null
  until ferry_gone; do sleep 0.1; done

  t0=$(now)
  podman kube play --network none "$work/podman-$n.yaml" >/dev/null
  until podman_ready "$n"; do sleep 0.02; done
  podman_s=$(since "$t0")
  podman kube down "$work/podman-$n.yaml" >/dev/null 2>&1

  printf '%-9s %12.3f %12.3f %7.1fx\n' "$n" "$ferry_s" "$podman_s" "$(echo "$podman_s / $ferry_s" | bc -l)"
done

# --- memory per running pods ----------------------------------------------------
base=$(rss_kb)
manifest mem "$MEM_PODS" bench-web:v1 > "$work/mem.yaml"
"$FERRY" apply -f "$work/mem.yaml" >/dev/null
until ferry_ready mem "$MEM_PODS"; do sleep 0.1; done
sleep 2
loaded=$(rss_kb)
echo "ferry RSS: ${base} kB idle, ${loaded} kB with $MEM_PODS running pods"
echo "ferry memory per $MEM_PODS running pods: $(( (loaded - base) / 1024 )) MB (target < 50 MB)"
"$FERRY" delete deploy mem >/dev/null
until ferry_gone; do sleep 0.2; done
