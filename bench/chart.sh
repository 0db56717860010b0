#!/usr/bin/env bash
# bench/chart.sh — a whole chart vs its Deployments alone on ferry's
# embedded runtime (issue 20: "Apply of a 30-object chart to all-Ready
# within 1.5x the time of the same chart's Deployments alone").
#
# The chart is examples/charts/webapp (`helm create` plus a ConfigMap)
# rendered by the pinned Helm for RELEASES releases (default 5) with the
# HPA and the Ingress on: per release a ServiceAccount, a ConfigMap, a
# Service, a Deployment (readiness and liveness probes, the ConfigMap
# mounted), an autoscaling/v2 HPA and an Ingress — 30 objects. The peer
# is the same render's Deployment documents only (their pods identical,
# the ConfigMap volume dropped since its ConfigMap is not applied).
#
# Each round applies both, each into a fresh namespace, alternating which
# goes first, and times `ferry apply` until every Deployment reports its
# one replica ready (polled through ferry's API with curl every 20 ms, not
# a CLI process per poll). Prints each round and the median ratio
# chart / deployments-alone (target <= 1.5).
#
# Needs root, runc, jq, bc, helm (scripts/setup.sh --test-peers). FERRY
# defaults to the perf binary (cargo build --profile perf -p ferry).
set -euo pipefail
cd "$(dirname "$0")/.."
FERRY=${FERRY:-${CARGO_TARGET_DIR:-target}/perf/ferry}
[ -x "$FERRY" ] || { echo "build first: cargo build --profile perf -p ferry (or set FERRY)" >&2; exit 1; }
FERRY=$(realpath "$FERRY")
HELM=${HELM:-${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}/helm}
[ -x "$HELM" ] || { echo "helm not found at $HELM: run scripts/setup.sh --test-peers" >&2; exit 1; }
RELEASES=${RELEASES:-5}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/ferry-bench-chart.XXXXXX)
api_port=$((20000 + RANDOM % 20000))
export FERRY_SERVER="http://127.0.0.1:$api_port"
export FERRY_CONFIG="$work/client-config.yaml"
up_pid=""

cleanup() {
  if [ -n "$up_pid" ]; then kill -INT "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

"$FERRY" image build --httpd v1 --port 8080 -t bench-web:v1 --store "$work/local/runtime/images/store" >/dev/null

# --- the render ---------------------------------------------------------------
cat > "$work/values.yaml" <<YAML
image: {repository: bench-web, tag: v1}
service: {port: 8080}
config: {greeting: hello}
resources: {requests: {cpu: 10m, memory: 8Mi}}
autoscaling: {enabled: true, minReplicas: 1, maxReplicas: 2}
ingress: {enabled: true}
YAML
: > "$work/chart.yaml"
for i in $(seq "$RELEASES"); do
  printf 'volumes: [{name: config, configMap: {name: r%s-webapp}}]\nvolumeMounts: [{name: config, mountPath: /www/config}]\n' "$i" > "$work/mount-$i.yaml"
  "$HELM" template "r$i" examples/charts/webapp --skip-tests -f "$work/values.yaml" -f "$work/mount-$i.yaml" \
    --set "ingress.hosts[0].host=r$i.example.test" --set "ingress.hosts[0].paths[0].path=/" \
    --set "ingress.hosts[0].paths[0].pathType=Prefix" >> "$work/chart.yaml"
  echo "---" >> "$work/chart.yaml"
  "$HELM" template "r$i" examples/charts/webapp --skip-tests -f "$work/values.yaml" --show-only templates/deployment.yaml >> "$work/deployments.yaml"
  echo "---" >> "$work/deployments.yaml"
done
objects=$(grep -c '^kind:' "$work/chart.yaml")
deployments=$(grep -c '^kind: Deployment' "$work/deployments.yaml")
echo "chart: $objects objects ($RELEASES releases); peer: its $deployments Deployments alone"

# --- ferry up -------------------------------------------------------------------
cat > "$work/topology.yaml" <<YAML
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: local}
spec:
  dataDir: $work/local
  listeners: {api: 127.0.0.1:$api_port, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}
YAML
"$FERRY" up -f "$work/topology.yaml" > "$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 100); do curl -sf "$FERRY_SERVER/readyz" >/dev/null && break; sleep 0.1; done
token=$(awk '/token:/ {print $2; exit}' "$FERRY_CONFIG")
ferry_api() { curl -sf -H "Authorization: Bearer $token" "$FERRY_SERVER/api/v1/$1"; }

all_ready() { # namespace
  local i
  for i in $(seq "$RELEASES"); do
    ferry_api "objects/deployments/$1/r$i-webapp" | grep -q '"readyReplicas":1[,}]' || return 1
  done
}
no_pods() { # namespace
  ! ferry_api "objects/pods" | jq -e --arg ns "$1" '.items[] | select(.metadata.namespace == $ns)' >/dev/null
}

run() { # file namespace → seconds to all ready
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$2" > "$work/ns.yaml"
  "$FERRY" apply -f "$work/ns.yaml" >/dev/null
  local t0; t0=$(now)
  "$FERRY" apply -f "$1" -n "$2" >/dev/null
  until all_ready "$2"; do sleep 0.02; done
  since "$t0"
  "$FERRY" delete namespace "$2" >/dev/null
  until no_pods "$2"; do sleep 0.1; done
}

# Warm-up: the image unpacked into the rootfs cache once.
run "$work/deployments.yaml" warm >/dev/null

printf '%-6s %12s %14s %8s\n' round chart_s deployments_s ratio
ratios=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    c=$(run "$work/chart.yaml" "chart-$r"); d=$(run "$work/deployments.yaml" "deploy-$r")
  else
    d=$(run "$work/deployments.yaml" "deploy-$r"); c=$(run "$work/chart.yaml" "chart-$r")
  fi
  ratio=$(echo "$c / $d" | bc -l)
  ratios+=("$ratio")
  printf '%-6s %12.3f %14.3f %7.2fx\n' "$r" "$c" "$d" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf 'median chart / deployments alone: %.2fx (target <= 1.5)\n' "$median"
