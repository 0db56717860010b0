#!/usr/bin/env bash
# Delivery engine benchmarks.
#
# Scale: 1,000 applications x 3 objects from one real git repository, synced
# to the in-memory target, then full no-change reconcile passes timed and the
# process RSS read from /proc. Targets: pass < 2 s, RSS < 150 MB.
# Anchor (not runnable here: no cluster, no images from public registries):
# Argo CD's published test needed 53 min to sync 10,000 one-object apps at
# defaults; its default refresh is a 180 s poll, Flux's 60 s.
#
# Usage: bench/delivery.sh [APPS]
set -euo pipefail
cd "$(dirname "$0")/.."
APPS="${1:-1000}"
cargo build --release -q -p ferry-delivery --example scale
out=$(./target/release/examples/scale "$APPS")
echo "$out"
pass=$(sed -n 's/.*nochange_pass_median_s=\([0-9.]*\).*/\1/p' <<<"$out")
rss=$(sed -n 's/.*peak_rss_mb=\([0-9.]*\).*/\1/p' <<<"$out")
awk -v p="$pass" -v r="$rss" 'BEGIN {
  printf "no-change pass: %.3f s (target 2 s, ratio %.2f of budget)\n", p, p / 2.0
  printf "peak RSS: %.1f MB (target 150 MB, ratio %.2f of budget)\n", r, r / 150.0
  printf "vs Argo CD default 180 s poll before a change is even seen: %.0fx faster per full pass\n", 180.0 / (p > 0 ? p : 0.001)
}'
