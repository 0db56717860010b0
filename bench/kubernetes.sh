#!/usr/bin/env bash
# Kubernetes target benchmark: Flux's MTTP shape (fluxcd/flux-benchmark) on
# this machine, against a real kube-apiserver v1.34 with controller-manager
# and scheduler (scripts/k8s/up.sh api; built by setup.sh --test-peers).
#
# For each size N (default 100 500 1000): one git repository gets N apps at
# once — each a Deployment scaled to zero, a ServiceAccount, a Service and an
# Ingress — in one commit; the shipped `ferry` binary (perf profile), already
# running `ferry up` with N Applications whose Environment targets the
# cluster, is told by the push webhook. Measured: from the commit to every
# app Synced and Healthy in `ferry app list` (4N objects on the API server,
# counted with kubectl); ferry's RSS before the push (N Applications, no
# objects yet), its peak (VmHWM) and after the no-change passes (VmRSS);
# the mean no-change reconcile pass afterwards
# (delivery_reconcile_pass_seconds).
# Targets (issue 19): 1,000 apps < 30 s, RSS < 150 MB, no-change pass < 2 s.
# Healthy includes the cluster's own work: the controller-manager must
# create each Deployment's ReplicaSet and report its status, at Kubernetes'
# default client limit of 20 requests/s per controller that alone takes
# ~100 s for 1,000 Deployments; so "applied" (every app Synced) is printed
# as well, and the cluster (for ferry and Flux alike) runs its
# controller-manager at CM_QPS requests/s (default 200, as large clusters
# are tuned; CM_QPS=20 for Kubernetes' default).
# An app counts when Synced and every object Healthy — except that an
# Ingress stays Progressing (Argo CD's rule: no load-balancer address) since
# this cluster runs no ingress controller.
#
# Peer: Flux, measured in the same run when its controllers build
# (bench/flux/build.sh: source-controller and kustomize-controller from the Go
# module proxy into ~/.cache/ferry/peers/flux). For each N, after ferry's
# run, a fresh API server (same up.sh api) gets Flux's CRDs, both controllers
# run outside the cluster with the admin kubeconfig (leader election off,
# ports on 127.0.0.1, default concurrency: 2 source and 4 kustomize workers),
# the same N apps are committed to a git repository served over smart HTTP on
# 127.0.0.1 (bench/flux/git_http.sh: git http-backend behind nginx and
# fcgiwrap), and N
# Kustomizations (one per app path, interval 60m, prune on, wait off,
# targetNamespace bench) are created and left to see their source missing
# once (they are then woken by the source's new artifact, not by a retry). Measured: from creating the GitRepository to all
# 4N objects present on the API server (kubectl), the same point as ferry's
# "applied" (every app Synced means its objects were server-side applied);
# the controllers' peak RSS (VmHWM, summed). Printed beside ferry's figures
# with the ratio, and Flux's published figure (RESULTS.md: 1,000
# Kustomizations in 4 m 15 s, kustomize-controller at 190 MiB, on a 16-core
# GitHub runner) labelled as published. If the controllers cannot be built
# the reason is printed and only the published figure is kept.
#
# Usage: [FERRY_BIN=perf-binary] [CM_QPS=200] [FLUX=0] bench/kubernetes.sh [N...]   Needs root (as the cluster does).
set -euo pipefail
cd "$(dirname "$0")/.."
export FERRY_K8S_CM_QPS=${CM_QPS:-200}
echo "the cluster's controller-manager runs at $FERRY_K8S_CM_QPS requests/s per controller (CM_QPS; Kubernetes' default is 20)"
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(100 500 1000)
KIT=scripts/k8s
. "$KIT/lib.sh"
[ -x "$BIN/kube-apiserver" ] || { echo "no Kubernetes binaries: run bash scripts/setup.sh --test-peers" >&2; exit 1; }
# FERRY_BIN: an already built perf binary (skips the build), as the other benches
[ -n "${FERRY_BIN:-}" ] || cargo build --profile perf -q -p ferry
FERRY=${FERRY_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/perf/ferry}
work=$(mktemp -d); ferry_pid=""; flux_pids=()
FLUX_PEERS=${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}/flux FLUX_WHY=""
if [ "${FLUX:-1}" = 0 ]; then
  FLUX_WHY="FLUX=0 was given"
elif ! bash bench/flux/build.sh 2>"$work/flux-build.log"; then
  FLUX_WHY="Flux's controllers did not build: $(grep 'flux build:' "$work/flux-build.log" | tail -1) (log: kept below)"
  echo "$FLUX_WHY" >&2; tail -20 "$work/flux-build.log" >&2
fi
cleanup() {
  [ -z "$ferry_pid" ] || { kill "$ferry_pid" 2>/dev/null; wait "$ferry_pid" 2>/dev/null || true; }
  for p in "${flux_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  bash "$KIT/down.sh" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' INT TERM # so that cleanup runs on Ctrl-C or kill too

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
git_() { git -c user.name=b -c user.email=b@b -c init.defaultBranch=master "$@"; }

app_yaml() { # the four objects of app $1
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 0
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {serviceAccountName: $1, containers: [{name: c, image: "registry.invalid/podinfo:6", ports: [{containerPort: 9898}]}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: $1}
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec: {selector: {app: $1}, ports: [{port: 80, targetPort: 9898}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1}
spec:
  rules: [{host: $1.bench.invalid, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: $1, port: {number: 80}}}}]}}]
EOF
}

APPLIED='[.items[] | select(.sync == "Synced" and (.environments | length > 0))] | length'
READY='[.items[] | select(.sync == "Synced" and (.environments | length > 0)) | select(all(.environments[].objects[]; .health == "Healthy" or (.key.group_kind.kind == "Ingress" and .health == "Progressing")))] | length'

run_size() {
  local n=$1 d=$work/n$1 api reg gw i
  mkdir -p "$d/repo"
  bash "$KIT/up.sh" api >"$d/up.log" 2>&1 || { cat "$d/up.log"; exit 1; }
  git_ -C "$d/repo" init -q; echo bench >"$d/repo/README"; git_ -C "$d/repo" add -A; git_ -C "$d/repo" commit -qm init
  api=$(free_port) reg=$(free_port) gw=$(free_port)
  {
    printf 'apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: "127.0.0.1:%s", registry: "127.0.0.1:%s", gateway: "127.0.0.1:%s"}}\n' "$api" "$reg" "$gw"
    printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: bench}\nspec: {region: uk, target: {kubernetes: {kubeconfig: "%s"}}}\n' "$KUBECONFIG"
    for i in $(seq 1 "$n"); do
      printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {name: a%s}\nspec: {source: {repoUrl: "%s", path: apps/a%s}, syncPolicy: {prune: true, selfHeal: true}}\n' "$i" "$d/repo" "$i"
    done
  } >"$d/topology.yaml"
  export FERRY_CONFIG=$d/client.yaml
  "$FERRY" up -f "$d/topology.yaml" --data-dir "$d/data" >"$d/ferry.out" 2>"$d/ferry.err" &
  ferry_pid=$!
  for i in $(seq 600); do curl -sf "http://127.0.0.1:$api/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$api/healthz" >/dev/null || { echo "ferry up did not start:" >&2; tail -20 "$d/ferry.err" >&2; exit 1; }
  sleep 3 # a few passes over N apps with nothing in git yet
  local idle
  idle=$(awk '/VmRSS/ {print $2}' "/proc/$ferry_pid/status")
  for i in $(seq 1 "$n"); do mkdir -p "$d/repo/apps/a$i"; app_yaml "a$i" >"$d/repo/apps/a$i/all.yaml"; done
  git_ -C "$d/repo" add -A
  local t0 t1 synced=0
  t0=$EPOCHREALTIME
  git_ -C "$d/repo" commit -qm "$n apps"
  curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' -H 'X-Gitea-Event: push' \
    --data "{\"repository\":{\"clone_url\":\"$d/repo\"}}" "http://127.0.0.1:$api/api/v1/hooks/git"
  local ts="" apps
  # One list and one jq a poll, four polls a second: the poller shares the
  # two cores with ferry and the cluster, so it stays light.
  local applied counts
  for i in $(seq 1200); do
    counts=$("$FERRY" app list --server "http://127.0.0.1:$api" -o json 2>/dev/null |
      jq -r "[($APPLIED), ($READY)] | @tsv" 2>/dev/null) || counts=""
    read -r applied synced <<<"${counts:-0 0}"
    if [ -z "$ts" ] && [ "${applied:-0}" -ge "$n" ]; then ts=$EPOCHREALTIME; fi
    [ "${synced:-0}" -ge "$n" ] && break
    sleep 0.25
  done
  t1=$EPOCHREALTIME
  [ "$synced" -ge "$n" ] || { echo "only $synced of $n apps synced and healthy; ferry's log: $d/ferry.err" >&2; tail -20 "$d/ferry.err" >&2; exit 1; }
  local deploys
  deploys=$("$BIN/kubectl" get deploy -n bench --no-headers 2>/dev/null | wc -l)
  [ "$deploys" -eq "$n" ] || { echo "$deploys Deployments on the API server, want $n" >&2; exit 1; }
  local hwm token m0 m1
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ferry_pid/status")
  token=$(awk '/token:/ {print $2; exit}' "$FERRY_CONFIG")
  metric() { # the value of series $1 (any labels)
    curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$api/metrics" |
      awk -v k="$1" '!v && index($1, k) == 1 && (length($1) == length(k) || substr($1, length(k) + 1, 1) == "{") {v = $2} END {print v}'
  }
  m0="$(metric ferry_delivery_reconcile_pass_seconds_sum) $(metric ferry_delivery_reconcile_pass_seconds_count)"
  sleep 10 # five resync passes (every 2 s) with nothing changed
  m1="$(metric ferry_delivery_reconcile_pass_seconds_sum) $(metric ferry_delivery_reconcile_pass_seconds_count)"
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$ferry_pid/status")
  kill "$ferry_pid"; wait "$ferry_pid" 2>/dev/null || true; ferry_pid=""
  bash "$KIT/down.sh" >/dev/null 2>&1
  awk -v n="$n" -v a="$t0" -v s="$ts" -v b="$t1" -v h="$hwm" -v m0="$m0" -v m1="$m1" -v idle="$idle" -v rss="$rss" 'BEGIN {
    split(m0, x, " "); split(m1, y, " "); c = y[2] - x[2]; pass = c > 0 ? (y[1] - x[1]) / c : -1
    t = b - a
    printf "%5d apps (%d objects): push to all applied (Synced) %.2f s, to all Healthy %.2f s; peak RSS %.1f MB; no-change pass %.3f s (mean of %d)\n", n, 4 * n, s - a, t, h / 1024, pass, c
    printf "      RSS: %.1f MB before the push (apps declared, nothing in git), %.1f MB peak, %.1f MB after the no-change passes\n", idle / 1024, h / 1024, rss / 1024
    if (n == 1000) printf "      targets: %.2f of the 30 s budget, %.2f of 150 MB, %.2f of the 2 s pass\n", t / 30, h / 1024 / 150, pass / 2
  }'
  FERRY_APPLIED=$(awk -v a="$t0" -v s="$ts" 'BEGIN {printf "%.2f", s - a}') FERRY_RSS=$(awk -v h="$hwm" 'BEGIN {printf "%.1f", h / 1024}')
}

. bench/flux/run.sh

for n in "${SIZES[@]}"; do
  run_size "$n"
  FLUX_APPLIED="" FLUX_RSS=""
  [ -n "$FLUX_WHY" ] || run_flux "$n"
  print_table "$n"
done
