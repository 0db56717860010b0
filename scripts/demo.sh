#!/usr/bin/env bash
# Runs ferry's main job on a fresh machine: set-up, a release build, then
# `ferry up` with the built-in single-region topology (Ctrl-C to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p ferry
exec ./target/release/ferry up "$@"
