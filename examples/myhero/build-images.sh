#!/usr/bin/env bash
# Builds every myhero image with ferry itself (no Docker): the Rust services
# as binary images (`ferry image build --binary`: the binary plus the shared
# libraries and loader it links), the UI from its Dockerfile (`ferry build`,
# busybox httpd + the static page) in its three versions, and myhero-mosca
# from Debian's mosquitto binary plus its libraries, a config and a minimal
# /etc. Names follow k8s/*.yml:
#   $REGISTRY/myhero/{data,app,ernst,mosca}:v1 and $REGISTRY/myhero/ui:{v1,v2,v3}
# (plus ui-rs:v1, the same page served by the Rust myhero-ui). Without
# --push the Dockerfile builds are written as OCI layouts under target/.
#
# Usage: examples/myhero/build-images.sh [--push]
#   MYHERO_REGISTRY  registry host:port in the names (default 127.0.0.1:5000)
#   FERRY            ferry binary to use (default: built from this tree)
#   FERRY_IMAGE_STORE  local image store (ferry's default when unset)
#   MYHERO_BIN_DIR   use the myhero binaries there (stripped) instead of a release build; needs FERRY
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
REGISTRY="${MYHERO_REGISTRY:-127.0.0.1:5000}"
PUSH=()
case "${1:-}" in
  --push) PUSH=(--push) ;;
  "") ;;
  *) echo "build-images.sh: unknown argument $1 (use --push)" >&2; exit 2 ;;
esac
MOSQUITTO=/usr/sbin/mosquitto
[ -x "$MOSQUITTO" ] || { echo "Debian's mosquitto is missing: run scripts/setup.sh --test-peers" >&2; exit 1; }

cd "$ROOT"
if [ -n "${MYHERO_BIN_DIR:-}" ]; then
  # Prebuilt binaries (e.g. a test's debug build): stripped copies, as a
  # release image would carry them.
  TARGET="$(mktemp -d)"
  trap 'rm -rf "$TARGET"' EXIT
  for b in myhero-data myhero-app myhero-ernst myhero-ui; do
    [ -x "$MYHERO_BIN_DIR/$b" ] || { echo "$MYHERO_BIN_DIR/$b is missing: cargo build -p $b" >&2; exit 1; }
    strip --strip-debug -o "$TARGET/$b" "$MYHERO_BIN_DIR/$b" 2>/dev/null || cp "$MYHERO_BIN_DIR/$b" "$TARGET/$b"
  done
  : "${FERRY:?set FERRY with MYHERO_BIN_DIR}"
else
  TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
  if [ -z "${FERRY:-}" ]; then
    cargo build -q --release -p ferry -p myhero-data -p myhero-app -p myhero-ernst -p myhero-ui
    FERRY="$TARGET/ferry"
  else
    cargo build -q --release -p myhero-data -p myhero-app -p myhero-ernst -p myhero-ui
  fi
fi

build() { echo "== $1"; "$FERRY" image build -t "$@" "${PUSH[@]}"; }

build "$REGISTRY/myhero/data:v1" --binary "$TARGET/myhero-data:/app/myhero-data" \
  -e myhero_data_dir=/app/data/ --expose 5000 -l org.opencontainers.image.title=myhero-data
build "$REGISTRY/myhero/app:v1" --binary "$TARGET/myhero-app:/app/myhero-app" \
  --expose 5000 -l org.opencontainers.image.title=myhero-app
build "$REGISTRY/myhero/ernst:v1" --binary "$TARGET/myhero-ernst:/app/myhero-ernst" \
  -l org.opencontainers.image.title=myhero-ernst
build "$REGISTRY/myhero/ui-rs:v1" --binary "$TARGET/myhero-ui:/app/myhero-ui" \
  --expose 80 -l org.opencontainers.image.title=myhero-ui
# The UI the manifests deploy: its Dockerfile (busybox httpd + the static
# page), built by `ferry build` once per version.
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"; [ -n "${MYHERO_BIN_DIR:-}" ] && rm -rf "$TARGET"' EXIT
cp "$HERE/myhero-ui/docker/Dockerfile" "$HERE/myhero-ui/docker/entrypoint.sh" "$HERE/myhero-ui/static/index.html" "$CTX/"
cp /bin/busybox "$CTX/busybox"
for v in v1 v2 v3; do
  echo "== $REGISTRY/myhero/ui:$v (Dockerfile)"
  if [ "${#PUSH[@]}" -gt 0 ]; then
    "$FERRY" build --build-arg version=$v -t "$REGISTRY/myhero/ui:$v" "$CTX"
  else
    "$FERRY" build --build-arg version=$v -t "$REGISTRY/myhero/ui:$v" --output "${UI_LAYOUT_DIR:-$ROOT/target/myhero-ui-$v}" "$CTX"
  fi
done
build "$REGISTRY/myhero/mosca:v1" --binary "$MOSQUITTO:/usr/sbin/mosquitto" \
  --dir "$HERE/mosca/config:/mosquitto/config" --dir "$HERE/mosca/data:/mosquitto/data" \
  --dir "$HERE/mosca/etc:/etc" \
  --entrypoint '["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' \
  --expose 1883 -l org.opencontainers.image.title=myhero-mosca
echo "built: data app ernst mosca ui-rs (v1), ui (v1 v2 v3) under $REGISTRY/myhero/"
