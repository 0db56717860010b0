#!/usr/bin/env bash
# Builds every myhero image with ferry itself (`ferry image build`, no
# Docker): the four Rust services as binary images (the binary plus the
# shared libraries and loader it links), the UI in its three versions, and
# myhero-mosca from Debian's mosquitto binary plus its libraries, a config
# and a minimal /etc. Names follow k8s/*.yml:
#   $REGISTRY/myhero/{data,app,ernst,mosca}:v1 and $REGISTRY/myhero/ui:{v1,v2,v3}
#
# Usage: examples/myhero/build-images.sh [--push]
#   MYHERO_REGISTRY  registry host:port in the names (default 127.0.0.1:5000)
#   FERRY            ferry binary to use (default: built from this tree)
#   FERRY_IMAGE_STORE  local image store (ferry's default when unset)
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
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
if [ -z "${FERRY:-}" ]; then
  cargo build -q --release -p ferry -p myhero-data -p myhero-app -p myhero-ernst -p myhero-ui
  FERRY="$TARGET/ferry"
else
  cargo build -q --release -p myhero-data -p myhero-app -p myhero-ernst -p myhero-ui
fi

build() { echo "== $1"; "$FERRY" image build -t "$@" "${PUSH[@]}"; }

build "$REGISTRY/myhero/data:v1" --binary "$TARGET/myhero-data:/app/myhero-data" \
  -e myhero_data_dir=/app/data/ --expose 5000 -l org.opencontainers.image.title=myhero-data
build "$REGISTRY/myhero/app:v1" --binary "$TARGET/myhero-app:/app/myhero-app" \
  --expose 5000 -l org.opencontainers.image.title=myhero-app
build "$REGISTRY/myhero/ernst:v1" --binary "$TARGET/myhero-ernst:/app/myhero-ernst" \
  -l org.opencontainers.image.title=myhero-ernst
for v in v1 v2 v3; do
  build "$REGISTRY/myhero/ui:$v" --binary "$TARGET/myhero-ui:/app/myhero-ui" \
    -e myhero_ui_version=$v --expose 80 -l org.opencontainers.image.title=myhero-ui
done
build "$REGISTRY/myhero/mosca:v1" --binary "$MOSQUITTO:/usr/sbin/mosquitto" \
  --dir "$HERE/mosca/config:/mosquitto/config" --dir "$HERE/mosca/data:/mosquitto/data" \
  --dir "$HERE/mosca/etc:/etc" \
  --entrypoint '["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]' \
  --expose 1883 -l org.opencontainers.image.title=myhero-mosca
echo "built: data app ernst mosca (v1), ui (v1 v2 v3) under $REGISTRY/myhero/"
