#!/usr/bin/env bash
# Replication benchmark (issue 3): a 1 GiB image (four 256 MiB layers)
# replicated from region A to region B on loopback by ferry's engine, side by
# side with a plain HTTP copy of the same bytes (curl GET | curl PUT, layers in
# parallel), printing the ratio (target <= 1.3x); then the time from a small
# image's push completing in A to it being pullable in B (target < 500 ms).
# Registries are ferry's own, in-process, as `ferry up` runs them.
# Usage: bench/replication.sh   (needs ~3.3 GiB of scratch in $BENCH_DIR,
# default the temp dir; BENCH_DIR=/dev/shm when the disk is short)
# Figures on the 2-core dev machine (BENCH_DIR=/dev/shm, 2026-11-22):
#   curl | curl 2.89-3.22 s, ferry 2.05-2.27 s, ratio 0.71x;
#   small image push -> pullable in B: median 47 ms, p90 52 ms, max 55 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "bench: curl is needed" >&2; exit 1; }
cargo build --profile perf -q -p ferry-replication --example replication_bench
exec target/perf/examples/replication_bench
