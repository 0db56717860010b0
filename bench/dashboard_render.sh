#!/usr/bin/env bash
# The web UI's applications list on the server (issue #23: first page under
# 50 ms and any page under 200 KB at 10,000 applications).
#
# ferry-ui's `render_apps` example builds N synthetic application statuses
# in two environments (a Deployment, a Service and an Ingress each) and
# times, per request as /ui/apps does it: the copy of every status the
# delivery engine hands out (`Engine::list`), the filter and pagination
# pass, and the first page's HTML; medians of 21 rounds, with the body's
# size. Beside them, Argo CD's published figure for its list (argoproj/
# argo-cd #9575: 35 s at 8,000 applications, in the browser) — a published
# number, not a run of Argo CD on this machine. Chromium's paint time and
# the RSS per open tab are not measured here yet.
#
# Usage: bench/dashboard_render.sh [N ...]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --profile perf -q -p ferry-ui --features synthetic --example render_apps
for n in "${@:-1000 10000}"; do
  for m in $n; do
    "$target/perf/examples/render_apps" "$m" 21
  done
done
echo "Argo CD (published, argoproj/argo-cd #9575): applications list 35 s at 8,000 applications"
