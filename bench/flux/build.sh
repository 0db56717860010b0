#!/usr/bin/env bash
# bench/flux/build.sh - builds Flux's source-controller and kustomize-controller
# (pinned below) from the Go module proxy into $FLUX_PEERS (default
# ~/.cache/ferry/peers/flux), with the CRDs they serve (GitRepository,
# OCIRepository, ..., Kustomization) copied from the modules' config/crd/bases.
# Reused when present (delete the folder to rebuild). Called by
# bench/kubernetes.sh, not by CI.
#
# Why not `go install MODULE@VERSION`: both modules' go.mod carry replace
# directives (their ./api submodule, go-digest, kustomize), which `go install`
# refuses. So each module is downloaded, copied out of the read-only module
# cache, its `./api` replace dropped (the api module of the same version is on
# the proxy), and built with `go build` in that copy.
# Version choice: v1.10.x needs Go >= 1.27; v1.9.6 declares go 1.26.0, which
# this machine's Go builds. One of source-controller v1.9.6's dependencies,
# github.com/fluxcd/pkg/artifact v0.18.3, is refused by the module proxy here
# (403 "not available"); it is replaced by v0.18.0 (same minor version),
# which is served.
# Exit status 0 and the two binaries in place, or non-zero with the reason on
# stderr (the bench prints it and keeps Flux's published figure only).
set -euo pipefail
FLUX_VERSION=${FLUX_VERSION:-v1.9.6}   # source-controller and kustomize-controller
FLUX_PEERS=${FLUX_PEERS:-${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}/flux}
stamp="source-controller $FLUX_VERSION kustomize-controller $FLUX_VERSION artifact=v0.18.0"
if [ -x "$FLUX_PEERS/source-controller" ] && [ -x "$FLUX_PEERS/kustomize-controller" ] &&
   [ "$(cat "$FLUX_PEERS/version" 2>/dev/null)" = "$stamp" ]; then exit 0; fi
command -v go >/dev/null || { echo "flux build: no go command on PATH" >&2; exit 1; }
work=$(mktemp -d); trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$FLUX_PEERS/crds"
build() { # build MODULE-NAME EXTRA-GO-MOD-EDIT-ARGS...
  local name=$1 dir; shift
  dir=$(cd "$work" && go mod download -json "github.com/fluxcd/$name@$FLUX_VERSION" | jq -r '.Error // .Dir')
  [ -d "$dir" ] || { echo "flux build: go mod download github.com/fluxcd/$name@$FLUX_VERSION: $dir" >&2; return 1; }
  cp -r "$dir" "$work/$name"; chmod -R u+w "$work/$name"
  (cd "$work/$name" && go mod edit -dropreplace "github.com/fluxcd/$name/api" "$@" &&
    GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' -o "$FLUX_PEERS/$name.new" .) ||
    { echo "flux build: go build of github.com/fluxcd/$name@$FLUX_VERSION failed (output above)" >&2; return 1; }
  mv "$FLUX_PEERS/$name.new" "$FLUX_PEERS/$name"
  install -m 0644 "$dir"/config/crd/bases/*.yaml "$FLUX_PEERS/crds/"
}
echo "building Flux $FLUX_VERSION controllers into $FLUX_PEERS (several minutes)" >&2
build source-controller -replace github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0
build kustomize-controller
echo "$stamp" >"$FLUX_PEERS/version"
