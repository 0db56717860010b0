#!/usr/bin/env bash
# WAN replication benchmark (issue 21): a multi-layer image replicated from uk
# to shanghai across the emulated uk-shanghai link (ferry-test-support's
# wan.rs: each region in its own network namespace, toxiproxy between them,
# 115 ms each way, 10 ms jitter, 20 Mbit/s), by the shipped binary (two
# `ferry up --region` processes, perf profile), then `skopeo copy` of an image
# of the same sizes between the same two registries over the same link.
# Prints ferry's time against the floor (bytes / 20 Mbit/s; target <= 1.15x)
# and against skopeo (target <= 0.7x), with the load average.
#
# Usage: sudo bench/wan.sh [MiB] [layers]   (default 64 MiB in 4 layers;
#        bench/wan.sh 300 for the issue's 300 MB image)
# FERRY=path uses that binary instead of building the perf profile.
# Needs root, toxiproxy and skopeo (scripts/setup.sh --test-peers).
#
# Note: toxiproxy's bandwidth toxic limits each connection, not the link:
# copies over several connections at once (ferry: 4 blobs, skopeo: up to 6)
# can beat the single-connection floor.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v skopeo >/dev/null || { echo "bench: skopeo is needed (scripts/setup.sh)" >&2; exit 1; }
if [ -z "${FERRY:-}" ]; then
  cargo build --profile perf -q -p ferry --bin ferry
  FERRY=${CARGO_TARGET_DIR:-target}/perf/ferry
fi
export FERRY_BENCH_BIN=$(realpath "$FERRY")
export FERRY_WAN_MB=${1:-64} FERRY_WAN_LAYERS=${2:-4}
exec cargo test -q -p ferry-replication --test wan_bench -- --ignored --nocapture --test-threads=1
