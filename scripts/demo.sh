#!/usr/bin/env bash
# Runs ferry's main job on a fresh machine: set-up, a release build of ferry
# and the myhero services, then `ferry demo` — two regions (uk, shanghai), a
# git repository holding myhero, dev → uk and master → shanghai built,
# replicated and served, a one-line change timed through both. Ctrl-C stops
# it and removes what it created. Extra arguments go to `ferry demo`
# (e.g. --ports 9000, --keep, --no-wait).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p ferry -p myhero-data -p myhero-app
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
exec "${SUDO[@]}" ./target/release/ferry demo "$@"
