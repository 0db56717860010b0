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
# Gates: formatting and every clippy lint as an error, before any test.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads="${FERRY_TEST_THREADS:-2}"
# Every parser facing users under the fuzzer, about 20 s a target.
bash scripts/fuzz.sh
