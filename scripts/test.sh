#!/usr/bin/env bash
# Runs every ferry test: set-up (Debian packages, Go-built peers), then the
# whole workspace's tests. Run it as root (CI does): the tests that start
# runc containers, mount overlays or make network namespaces do not skip
# when unprivileged, they fail (runc and mount report EPERM).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test-peers
export PATH="$HOME/.cargo/bin:$PATH"
export FERRY_PEERS_DIR="${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}"
# A one-off build gains nothing from incremental artifacts; they cost disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
# The build and the tests need room: a fresh target directory grows to about
# 15 GB, and the large-blob and Kubernetes tests take a few more. A full
# disk shows up late, as a registry's 507 or an evicted pod (the run of
# 2026-12-06 failed so, after 34 minutes), so say it up front.
target="${CARGO_TARGET_DIR:-target}"
if [ -d "$target/debug/deps" ]; then need_gb=8; else need_gb=22; fi
need_gb="${FERRY_TEST_MIN_FREE_GB:-$need_gb}"
mkdir -p "$target"
free_gb=$(( $(df -Pk "$target" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "test.sh: only ${free_gb} GB free on the file system of $target;" \
    "the tests need about ${need_gb} GB (large blobs, a Kubernetes node)." >&2
  echo "test.sh: free space (old target directories: cargo clean), or set" \
    "FERRY_TEST_MIN_FREE_GB to run anyway." >&2
  exit 1
fi
# Gates: formatting and every clippy lint as an error, before any test.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads="${FERRY_TEST_THREADS:-2}"
# Every parser facing users under the fuzzer, about 20 s a target.
bash scripts/fuzz.sh
