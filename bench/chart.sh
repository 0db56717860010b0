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
# is the same chart's Deployments alone: the Deployment documents of the
# same render with `serviceAccount.create=false` (so their pods run as the
# namespace's `default` ServiceAccount, which exists, rather than the
# chart's, which is not applied — a pod naming a missing ServiceAccount
# never starts, as on Kubernetes) and without the ConfigMap volume (its
# ConfigMap is not applied either). The pods are otherwise identical.
#
# Each round applies both, each into a fresh namespace, alternating which
# goes first, and times `ferry apply` until every Deployment reports at
# least one replica ready and all its replicas ready (the namespace's
# Deployments listed through ferry's API with curl every 20 ms, not a CLI
# process per poll). Prints each round and the median ratio
# chart / deployments-alone (target <= 1.5).
#
# Needs root, runc, jq, bc, helm (scripts/setup.sh --test-peers). FERRY
# defaults to the perf binary (cargo build --profile perf -p ferry).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init chart
HELM=${HELM:-${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}/helm}
[ -x "$HELM" ] || { echo "helm not found at $HELM: run scripts/setup.sh --test-peers" >&2; exit 1; }
RELEASES=${RELEASES:-5}
ROUNDS=${ROUNDS:-5}

cleanup() {
  ferry_down
  rm -rf "$work"
}
trap cleanup EXIT

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
  "$HELM" template "r$i" examples/charts/webapp --skip-tests -f "$work/values.yaml" \
    --set serviceAccount.create=false --show-only templates/deployment.yaml >> "$work/deployments.yaml"
  echo "---" >> "$work/deployments.yaml"
done
objects=$(grep -c '^kind:' "$work/chart.yaml")
deployments=$(grep -c '^kind: Deployment' "$work/deployments.yaml")
echo "chart: $objects objects ($RELEASES releases); peer: its $deployments Deployments alone"

# --- ferry up -------------------------------------------------------------------
ferry_up

all_ready() { # namespace
  ferry_api "objects/deployments?namespace=$1" | jq -e --argjson n "$RELEASES" \
    '[.items[] | select((.status.readyReplicas // 0) >= ([.spec.replicas // 1, 1] | max))] | length == $n' >/dev/null
}
no_pods() { # namespace
  ferry_api "objects/pods?namespace=$1" | jq -e '.items == []' >/dev/null
}

run() { # file namespace → seconds to all ready
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$2" > "$work/ns.yaml"
  "$FERRY" apply -f "$work/ns.yaml" >/dev/null
  local t0; t0=$(now)
  "$FERRY" apply -f "$1" -n "$2" >/dev/null
  poll_until 300 0.02 all_ready "$2" || return 1
  since "$t0"
  "$FERRY" delete namespace "$2" >/dev/null
  poll_until 120 0.1 no_pods "$2" || return 1
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
