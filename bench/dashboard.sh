#!/usr/bin/env bash
# The web UI's figures of issue #23 at 10,000 applications in two regions,
# as a browser meets them (ferry-ui's `dashboard_bench` example: the UI's
# real router on 127.0.0.1 over a delivery engine holding N synthetic
# statuses, driven over HTTP and by headless Debian chromium over DevTools):
#
#   applications list, first page rendered by the server   target < 50 ms
#   the same page painted in Chromium (navigation → FCP)   target < 500 ms
#   any page's HTML                                        target < 200 KB
#   one open tab adds to the serving process's RSS         target < 1 MB
#   an SSE update reaches the open page                    target < 1 s
#
# Beside them, Argo CD's published figure for its applications list
# (argoproj/argo-cd #9575: 35 s at 8,000 applications) — published, not a
# run of Argo CD on this machine. bench/dashboard_render.sh splits the
# server's part (status copy, filter, render) without HTTP.
#
# Built with `--profile perf` (as every bench/ script); the serving
# process is the example, which embeds the same router ferry serves under
# /ui, not the `ferry` binary.
#
# Usage: bench/dashboard.sh [N]   (default: 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --profile perf -q -p ferry-ui --features synthetic --example dashboard_bench
"$target/perf/examples/dashboard_bench" "${1:-10000}"
echo "Argo CD (published, argoproj/argo-cd #9575): applications list 35 s at 8,000 applications, in the browser"
