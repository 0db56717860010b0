# bench/flux/run.sh - sourced by bench/kubernetes.sh (uses its $work, $KIT,
# $BIN, $FLUX_PEERS, free_port, git_, app_yaml, flux_pids). run_flux N
# delivers the same N apps with Flux's source-controller and
# kustomize-controller against a fresh API server and sets FLUX_APPLIED
# (seconds) and FLUX_RSS (MB, both controllers' VmHWM summed); print_table N
# prints ferry beside Flux.

. "$(dirname "${BASH_SOURCE[0]}")/git_http.sh"

flux_start() { # NAME ARGS...: a controller outside the cluster, logging to $d/NAME.log
  local name=$1; shift
  RUNTIME_NAMESPACE=flux-system "$FLUX_PEERS/$name" --enable-leader-election=false --log-level=info "$@" >"$d/$name.log" 2>&1 &
  flux_pids+=($!)
}

flux_stop() {
  local p; for p in "${flux_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; flux_pids=()
}

run_flux() {
  local n=$1 d=$work/flux$1 i git sa ka sh kh store t0 t1 have=0 k
  mkdir -p "$d/git/repo" "$d/artifacts"
  bash "$KIT/up.sh" api >"$d/up.log" 2>&1 || { cat "$d/up.log"; exit 1; }
  "$BIN/kubectl" apply --server-side -f "$FLUX_PEERS/crds" >/dev/null
  "$BIN/kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null
  "$BIN/kubectl" create namespace flux-system >/dev/null
  "$BIN/kubectl" create namespace bench >/dev/null
  # the repository, with the same manifests ferry got, served over smart HTTP
  git_ -C "$d/git/repo" init -q
  for i in $(seq 1 "$n"); do mkdir -p "$d/git/repo/apps/a$i"; app_yaml "a$i" >"$d/git/repo/apps/a$i/all.yaml"; done
  git_ -C "$d/git/repo" add -A; git_ -C "$d/git/repo" commit -qm "$n apps"
  git=$(free_port); git_http_start "$d/git" "$git" "$d/http"
  sa=$(free_port) sh=$(free_port) store=$(free_port) ka=$(free_port) kh=$(free_port)
  flux_start source-controller --metrics-addr="127.0.0.1:$sa" --health-addr="127.0.0.1:$sh" \
    --storage-addr="127.0.0.1:$store" --storage-adv-addr="127.0.0.1:$store" --storage-path="$d/artifacts"
  local spid=${flux_pids[-1]}
  flux_start kustomize-controller --metrics-addr="127.0.0.1:$ka" --health-addr="127.0.0.1:$kh"
  local kpid=${flux_pids[-1]}
  for i in $(seq 600); do curl -sf "http://127.0.0.1:$sh/readyz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$kh/readyz" >/dev/null 2>&1 && break; kill -0 "$spid" "$kpid" 2>/dev/null || break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$sh/readyz" >/dev/null && curl -sf "http://127.0.0.1:$kh/readyz" >/dev/null || { echo "Flux's controllers did not start: $d" >&2; tail -5 "$d"/*-controller.log >&2; exit 1; }
  # N Kustomizations, first without their source: wait until each has been seen once
  for i in $(seq 1 "$n"); do
    printf -- '---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a%s, namespace: flux-system}\nspec: {interval: 60m, path: ./apps/a%s, prune: true, wait: false, targetNamespace: bench, sourceRef: {kind: GitRepository, name: bench}}\n' "$i" "$i"
  done >"$d/kustomizations.yaml"
  "$BIN/kubectl" apply --server-side -f "$d/kustomizations.yaml" >/dev/null
  for i in $(seq 1200); do
    k=$("$BIN/kubectl" get kustomizations -n flux-system -o json | jq '[.items[] | select(.status.conditions // [] | length > 0)] | length')
    [ "$k" -ge "$n" ] && break; sleep 0.5
  done
  # the push: the source appears; every Kustomization is told when its artifact is ready
  t0=$EPOCHREALTIME
  printf 'apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: bench, namespace: flux-system}\nspec: {interval: 60m, url: "http://127.0.0.1:%s/repo", ref: {branch: master}}\n' "$git" |
    "$BIN/kubectl" apply --server-side -f - >/dev/null
  local limit=${FLUX_TIMEOUT:-1800} # seconds
  while :; do
    have=$("$BIN/kubectl" get deploy,sa,svc,ingress -n bench -o name | grep -c '/a[0-9]' || true)
    [ "$have" -ge $((4 * n)) ] && break
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN {exit !(b - a > l)}' && break
    sleep 0.2
  done
  t1=$EPOCHREALTIME
  [ "$have" -ge $((4 * n)) ] || { echo "Flux: only $have of $((4 * n)) objects after ${limit} s (FLUX_TIMEOUT); logs in $d" >&2; tail -5 "$d"/*-controller.log >&2; exit 1; }
  FLUX_APPLIED=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  FLUX_RSS=$(awk '/VmHWM/ {s += $2} END {printf "%.1f", s / 1024}' "/proc/$spid/status" "/proc/$kpid/status")
  local kready
  kready=$("$BIN/kubectl" get kustomizations -n flux-system -o json | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')
  printf '%5d apps (%d objects), Flux %s: GitRepository created to all applied %s s (%s of %s Kustomizations Ready then); peak RSS %s MB (source-controller + kustomize-controller)\n' \
    "$n" $((4 * n)) "$(cat "$FLUX_PEERS/version")" "$FLUX_APPLIED" "$kready" "$n" "$FLUX_RSS"
  flux_stop
  bash "$KIT/down.sh" >/dev/null 2>&1
}

print_table() { # N
  local n=$1
  echo
  printf '  %-44s %12s %12s\n' "$n apps, this machine ($(nproc) cores), same run" "applied (s)" "peak RSS MB"
  printf '  %-44s %12s %12s\n' "ferry (one process)" "$FERRY_APPLIED" "$FERRY_RSS"
  if [ -n "$FLUX_APPLIED" ]; then
    printf '  %-44s %12s %12s\n' "Flux (source- + kustomize-controller)" "$FLUX_APPLIED" "$FLUX_RSS"
    awk -v f="$FLUX_APPLIED" -v r="$FERRY_APPLIED" -v fm="$FLUX_RSS" -v rm="$FERRY_RSS" \
      'BEGIN {printf "  %-44s %11.1fx %11.2fx\n", "ratio Flux / ferry", f / r, fm / rm}'
  else
    printf '  %-44s %s\n' "Flux" "not run: ${FLUX_WHY:-no figure}"
  fi
  printf '  %-44s %12s %12s\n' "published: Flux, 1,000 apps, 16 cores" "255" "190 MiB (kc)"
  echo
}
