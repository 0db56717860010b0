#!/usr/bin/env bash
# What API authentication costs per call (issue #17: under 50 µs).
#
# The same router — a handler answering a small JSON list, as
# `GET /api/v1/objects/pods` does — is called in-process (axum `oneshot`),
# with and without ferry's authentication layer (bearer token hashed and
# looked up among 101 tokens, route policy, identity handed on), in
# alternating rounds; the script prints both p50s and the difference. The
# gateway's data path has no authentication on it, so bench/gateway.sh is
# unaffected by construction.
#
# Usage: bench/api_auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile perf -q -p ferry-auth --example overhead
./target/perf/examples/overhead
