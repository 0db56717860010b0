#!/usr/bin/env bash
# Fuzzes every parser facing users: builds the cargo-fuzz targets under
# fuzz/ once, then runs each for FUZZ_SECONDS (default 20) from its seed
# corpus fuzz/corpus/<target>/ (new inputs go to a scratch copy, so the
# tracked seeds stay small). Fails, printing the crash input's path, if any
# target crashes, breaks an assertion or hangs. Installs the pinned
# cargo-fuzz into ~/.cargo/bin if missing; needs the nightly toolchain.
#
#   bash scripts/fuzz.sh                        # every target, 20 s each
#   FUZZ_SECONDS=120 FUZZ_TARGETS="tar_unpack range" bash scripts/fuzz.sh
#   cd fuzz && cargo +nightly fuzz run -O -a -s none --codegen-units 16 tar_unpack artifacts/tar_unpack/crash-...  # replay
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION=0.13.1
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi

cd fuzz
# The instrumented build is kept between runs outside the checkout (CI
# starts from a fresh clone on the same machine): a cold build is about ten
# minutes on two cores, a rebuild after a change to ferry's crates three.
export CARGO_TARGET_DIR="${FERRY_FUZZ_TARGET_DIR:-$HOME/.cache/ferry/fuzz-target}"
# Release code with debug assertions, so arithmetic overflow is a crash. No
# sanitizer: the workspace forbids `unsafe` (but for two small modules), and
# without AddressSanitizer the build is shorter and runs about twice as many
# inputs; 16 codegen units shorten the build further. Replays must use the
# same flags (other flags rebuild everything).
FLAGS=(-O --debug-assertions --sanitizer none --codegen-units 16)
start=$(date +%s)
cargo +nightly fuzz build "${FLAGS[@]}"
echo "fuzz: built every target in $(($(date +%s) - start)) s"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
    mkdir -p "$scratch/$t" "artifacts/$t"
    log="$scratch/$t.log"
    # The first corpus directory receives new inputs; the seeds are read only.
    if cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $t ok ($runs runs, $cov, ${FUZZ_SECONDS} s)"
    else
        # The panic and libFuzzer's summary; not the input's dump.
        grep -E -A4 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | cut -c1-300 | head -n 20
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        echo "fuzz: $t FAILED; input: fuzz/${input:-artifacts/$t/ (see the log above)}"
        echo "fuzz: replay with: cd fuzz && cargo +nightly fuzz run ${FLAGS[*]} $t ${input:-artifacts/$t/<file>}"
        failed+=("$t")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: every target ran ${FUZZ_SECONDS} s without a failure ($(($(date +%s) - start)) s in all)"
