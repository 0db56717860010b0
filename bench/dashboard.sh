#!/usr/bin/env bash
# The web UI's figures of issue #23 at N applications (default 10,000) in
# two regions, measured on the shipped `ferry` binary (perf profile) as a
# browser meets it:
#
#   applications list, first page rendered by the server   target < 50 ms
#   the same page painted in Chromium (navigation → FCP)   target < 500 ms
#   any page's HTML                                        target < 200 KB
#   one open tab adds to ferry's RSS                       target < 1 MB
#   an SSE update reaches the open page                    target < 1 s
#
# The applications get into `ferry up` the product's way: a topology with
# regions uk and us (Environment dev in uk, prod in us, both on the
# embedded runtime) and N Applications (files of 1,000 documents), each
# synced to both environments from a real git repository in Flux's MTTP
# shape — a Deployment scaled to zero, a ServiceAccount and a Service per
# app (nothing to run); SHAPE=configmaps puts three ConfigMaps there
# instead (as many objects and as large a status, no Deployment for the
# runtime's controller). N-1 apps share one repository; the probe app
# (app-00001) has a repository of its own, so that the SSE figure's commits
# change one application's revision and not all of them. The script waits
# (with a deadline) until the API lists every app Synced and Healthy,
# printing how long that took and the engine's pass time, then runs the
# `dashboard_client` example of ferry-test-support against uk's API
# listener: login with the admin token `ferry up` wrote, HTTP timings and
# page sizes, Chromium over DevTools (first contentful paint; ferry's RSS,
# `/proc/PID/status`, with five logged-in browsers on the list and their
# live streams open vs on about:blank, per tab, beside a control with
# nothing opened — the engine's passes move the RSS by megabytes), and
# seven commits to the probe app each followed by the API's sync, timed to
# the page's patch and split at the engine's sync (its history entry).
#
# Syncing is the slow part at large N, and it is the product's: on the
# embedded runtime the per-apply cost grows with the objects stored (see
# ARCHITECTURE.md, Web UI), so 10,000 apps take far longer than 10x 1,000.
#
# Beside them, Argo CD's published figure for its applications list
# (argoproj/argo-cd #9575: 35 s at 8,000 applications) — published, not a
# run of Argo CD on this machine. bench/dashboard_render.sh splits the
# server's part (status copy, filter, render) without HTTP.
#
# Usage: [FERRY_BIN=perf-binary] [SHAPE=mttp|configmaps] bench/dashboard.sh [N]
#        SYNC_TIMEOUT (s, default 3600): the deadline for all N synced.
# The machine's load is printed before and after: on shared cores the
# figures are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
PROBE=app-00001
SHAPE=${SHAPE:-mttp}
case $SHAPE in mttp | configmaps) ;; *) echo "SHAPE: mttp or configmaps" >&2; exit 2 ;; esac
[ "$N" -ge 2 ] || { echo "N must be at least 2" >&2; exit 2; }
target=${CARGO_TARGET_DIR:-$PWD/target}
[ -n "${FERRY_BIN:-}" ] || cargo build --profile perf -q -p ferry --bin ferry
FERRY=$(realpath "${FERRY_BIN:-$target/perf/ferry}")
cargo build --profile perf -q -p ferry-test-support --example dashboard_client
CLIENT=$target/perf/examples/dashboard_client
work=$(mktemp -d /tmp/ferry-bench-dashboard.XXXXXX) up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -INT "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

git_() { git -c user.name=bench -c user.email=bench@localhost -c init.defaultBranch=master "$@"; }
app_yaml() { # the three objects of app $1
  [ "$SHAPE" = mttp ] || { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s-%s}\ndata: {app: %s}\n---\n' "$1" a "$1" "$1" b "$1" "$1" c "$1"; return; }
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  replicas: 0\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec: {serviceAccountName: %s, containers: [{name: c, image: "registry.invalid/podinfo:6", ports: [{containerPort: 9898}]}]}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: %s}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {selector: {app: %s}, ports: [{port: 80, targetPort: 9898}]}\n' "$1" "$1" "$1" "$1" "$1" "$1" "$1"
}

# Two repositories: every app but the probe, and the probe.
t=$(date +%s)
for repo in apps probe; do mkdir -p "$work/$repo/apps"; git_ -C "$work/$repo" init -q; done
for i in $(seq 0 $((N - 1))); do
  printf -v a 'app-%05d' "$i"; repo=apps
  [ "$a" != "$PROBE" ] || repo=probe
  mkdir "$work/$repo/apps/$a"
  app_yaml "$a" >"$work/$repo/apps/$a/all.yaml"
done
for repo in apps probe; do git_ -C "$work/$repo" add -A; git_ -C "$work/$repo" commit -qm "$N apps"; done

api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api="http://127.0.0.1:$api_port"
mkdir "$work/topology"
{
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: uk}\nspec: {listeners: {api: "127.0.0.1:%s", registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n' "$api_port"
  printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Region\nmetadata: {name: us}\nspec: {listeners: {api: 127.0.0.1:0, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}}\n'
  printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: dev}\nspec: {region: uk}\n'
  printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {name: prod}\nspec: {region: us}\n'
} >"$work/topology/regions.yaml"
files=(-f "$work/topology/regions.yaml")
for i in $(seq 0 $((N - 1))); do
  printf -v a 'app-%05d' "$i"; repo=apps
  [ "$a" != "$PROBE" ] || repo=probe
  f="$work/topology/apps-$((i / 1000)).yaml" # the YAML reader's budget: 1,000 documents a file
  [ $((i % 1000)) -ne 0 ] || files+=(-f "$f")
  printf -- '---\napiVersion: ferry.dev/v1alpha1\nkind: Application\nmetadata: {name: %s}\nspec: {source: {repoUrl: "%s", path: apps/%s}, syncPolicy: {prune: true, selfHeal: true}}\n' "$a" "$work/$repo" "$a" >>"$f"
done
echo "$N apps in git and in the topology ($(($(date +%s) - t)) s to write)"

export FERRY_CONFIG=$work/client.yaml
t0=$EPOCHREALTIME
"$FERRY" up "${files[@]}" --data-dir "$work/data" >"$work/up.out" 2>"$work/up.err" &
up_pid=$!
for _ in $(seq 600); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$api/readyz" >/dev/null || { echo "ferry up did not start:" >&2; tail -20 "$work/up.err" >&2; exit 1; }
token=""
for _ in $(seq 600); do # written once every region has started
  token=$(awk '/name: uk$/ {f = 1} f && /token:/ {print $2; exit}' "$FERRY_CONFIG" 2>/dev/null || true)
  [ -z "$token" ] || break; sleep 0.1
done
[ -n "$token" ] || { echo "no admin token for uk in $FERRY_CONFIG:" >&2; tail -20 "$work/up.err" >&2; exit 1; }

metric() { # the value of series $1 (any labels)
  curl -sf -H "Authorization: Bearer $token" "$api/metrics" |
    awk -v k="$1" '!done && index($1, k) == 1 && (length($1) == length(k) || substr($1, length(k) + 1, 1) == "{") {print $2; done = 1}'
}
# The sync counter is cheap to read; the list (every app's status, tens of
# MB at 10,000) is asked for only once every environment has synced.
READY='[.items[] | select(.sync == "Synced" and (.environments | length == 2)) | select(all(.environments[].objects[]; .health == "Healthy"))] | length'
deadline=$(($(date +%s) + ${SYNC_TIMEOUT:-3600})) ready=0 synced=0 said=0
until [ "$ready" -ge "$N" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "only $synced of $((2 * N)) environments synced, $ready of $N apps Synced and Healthy after ${SYNC_TIMEOUT:-3600} s; ferry's log:" >&2; tail -5 "$work/up.err" >&2; exit 1; }
  kill -0 "$up_pid" || { echo "ferry up exited:" >&2; tail -20 "$work/up.err" >&2; exit 1; }
  sleep $((N >= 2000 ? 5 : 1))
  synced=$(curl -sf -H "Authorization: Bearer $token" "$api/metrics" | awk '/^ferry_delivery_syncs_total[{].*outcome="Succeeded"/ {s += $2} END {print s + 0}' || echo 0)
  [ "$synced" -lt $((2 * N)) ] || ready=$(curl -sf -H "Authorization: Bearer $token" "$api/api/v1/apps" | jq "$READY" || echo 0)
  if [ $(($(date +%s) - said)) -ge 60 ]; then said=$(date +%s); echo "  $synced of $((2 * N)) environments synced, $ready of $N apps Synced and Healthy after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}') s"; fi
done
t1=$EPOCHREALTIME
m0="$(metric ferry_delivery_reconcile_pass_seconds_sum) $(metric ferry_delivery_reconcile_pass_seconds_count)"
sleep 10
m1="$(metric ferry_delivery_reconcile_pass_seconds_sum) $(metric ferry_delivery_reconcile_pass_seconds_count)"
awk -v n="$N" -v a="$t0" -v b="$t1" -v m0="$m0" -v m1="$m1" -v h="$(awk '/VmHWM/ {print $2}' "/proc/$up_pid/status")" 'BEGIN {
  split(m0, x, " "); split(m1, y, " "); c = y[2] - x[2]
  printf "%d apps x 2 regions (%d objects) from `ferry up` to all Synced and Healthy: %.1f s; peak RSS %.0f MB; no-change pass ", n, 6 * n, b - a, h / 1024
  if (c > 0) printf "%.2f s (mean of %d)\n", (y[1] - x[1]) / c, c; else printf "longer than 10 s (none ended)\n"
}'

echo "load before the measurement: $(uptime)"
FERRY_TOKEN=$token "$CLIENT" --url "$api" --pid "$up_pid" --apps "$N" \
  --probe-app "$PROBE" --probe-file "$work/probe/apps/$PROBE/all.yaml"
echo "load after: $(uptime)"
echo "Argo CD (published, argoproj/argo-cd #9575): applications list 35 s at 8,000 applications, in the browser"
