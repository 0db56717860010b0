#!/usr/bin/env bash
# Idempotent set-up for ferry: installs the Debian packages ferry and its
# tests use, and (with --test-peers) builds the Go-based test peers into a
# cache directory. Safe to run again: it only installs what is missing.
set -euo pipefail

want_peers=0
for arg in "$@"; do
  case "$arg" in
    --test-peers) want_peers=1 ;;
    *) echo "setup.sh: unknown argument $arg (use --test-peers)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Packages the product needs at run time (runc for containers, iproute2 for
# network namespaces) and packages the tests use as real peers and clients.
RUNTIME_PKGS=(runc iproute2 busybox-static git curl ca-certificates pkg-config binutils)
TEST_PKGS=(openssl gcc skopeo podman catatonit buildah nginx haproxy wrk valgrind mosquitto mosquitto-clients jq chromium)

missing=()
pkgs=("${RUNTIME_PKGS[@]}")
if [ "$want_peers" = 1 ]; then pkgs+=("${TEST_PKGS[@]}"); fi
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust toolchain: the machine image ships rustup; make sure cargo is on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }

if [ "$want_peers" = 1 ]; then
  PEERS="${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}"
  mkdir -p "$PEERS"
  export GOFLAGS="${GOFLAGS:-} -modcacherw"
  # oras (Python SDK from PyPI): the registry's referrers test pushes with it.
  if ! python3 -c 'import oras' 2>/dev/null; then
    echo "setup: installing oras from PyPI"
    python3 -m pip --version >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    python3 -m pip install --quiet oras 2>/dev/null || python3 -m pip install --quiet --break-system-packages oras
  fi
  # Go-built peers are added here by the components whose tests use them.
  # CNCF Distribution: the reference registry ferry-image's client and
  # ferry-replication are tested against (and the registry benchmark peer).
  if [ ! -x "$PEERS/registry" ]; then
    echo "setup: building CNCF Distribution v3.1.2 into $PEERS"
    GOBIN="$PEERS" go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2
  fi
  # go_peer NAME MODULE VERSION: `go install MODULE@VERSION` into $PEERS,
  # again only when $PEERS/NAME.version names another version.
  go_peer() {
    if [ "$(cat "$PEERS/$1.version" 2>/dev/null)" != "$3" ]; then
      echo "setup: building $1 $3 into $PEERS"
      GOBIN="$PEERS" go install "$2@$3"
      echo "$3" > "$PEERS/$1.version"
    fi
  }
  # The OCI distribution-spec conformance suite (ferry-registry's
  # tests/conformance.rs). Pinned: the module has no tagged releases.
  go_peer conformance github.com/opencontainers/distribution-spec/conformance v0.0.0-20260831232431-97274622c111
  # Kustomize and Helm: ferry-delivery renders overlays and charts with
  # them (tests/render_tools.rs); pinned, built from the Go module proxy.
  go_peer kustomize sigs.k8s.io/kustomize/kustomize/v5 v5.8.1
  go_peer helm helm.sh/helm/v3/cmd/helm v3.22.1
  # crane: bench/registry.sh's push client and the digest checks after it.
  go_peer crane github.com/google/go-containerregistry/cmd/crane v0.22.1
  # Shopify's toxiproxy (its server only): the WAN emulation of
  # ferry-test-support's wan.rs (latency, jitter, bandwidth, cut links)
  # between regions in network namespaces. Its main package is `server`.
  if [ "$(cat "$PEERS/toxiproxy-server.version" 2>/dev/null)" != "v2.5.0" ]; then
    echo "setup: building toxiproxy-server v2.5.0 into $PEERS"
    tmp="$(mktemp -d)"
    GOBIN="$tmp" go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0
    mv "$tmp/server" "$PEERS/toxiproxy-server" && rmdir "$tmp"
    echo "v2.5.0" > "$PEERS/toxiproxy-server.version"
  fi
  # A real Kubernetes v1.34.4 (etcd, kube-apiserver, controller-manager,
  # scheduler, kubelet, kube-proxy, kubectl, kwok; containerd and runc
  # extracted from Debian packages) for ferry-kube's tests: see
  # scripts/k8s/README.md. About 17 minutes cold; seconds when cached.
  bash "$(dirname "$0")/k8s/build.sh" | sed 's/^/setup: k8s: /'
  :
fi
echo "setup: ok"
