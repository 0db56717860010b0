#!/usr/bin/env bash
# Benchmark: `ferry build` against buildah building the same multi-stage
# Dockerfile from the same local busybox base (an OCI image layout), on this
# machine, in the same run. Prints cold-build and fully-cached-rebuild times
# and the ratios ferry/buildah (targets: cold <= 1.0x, cached <= 0.5x).
#
# Usage: bench/build.sh [runs]   (needs root, runc and buildah; builds ferry with the perf profile)
set -euo pipefail
RUNS="${1:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FERRY="${FERRY_BIN:-$ROOT/target/perf/ferry}"
if [ -z "${FERRY_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --profile perf -q -p ferry)
fi
command -v buildah >/dev/null || { echo "bench: buildah is not installed (scripts/setup.sh --test-peers)" >&2; exit 1; }

WORK="/tmp/ferry-bench-build-$$"; rm -rf "$WORK"; mkdir -p "$WORK"   # lowercase: buildah names images after the path
STORAGE="$WORK/containers"   # buildah's own storage, removed at the end
trap 'buildah --root "$STORAGE/root" --runroot "$STORAGE/run" rm --all >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
BA=(buildah --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs)
if grep -q overlay /proc/filesystems; then BA=(buildah --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver overlay); fi

# 1. The shared base: busybox-static as an OCI layout, built by ferry itself.
mkdir -p "$WORK/basectx"
cp /bin/busybox "$WORK/basectx/busybox"
cat > "$WORK/basectx/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
DF
"$FERRY" build -q --data-dir "$WORK/base-data" --output "$WORK/base" -t busybox "$WORK/basectx" >/dev/null

# 2. The application: static files plus a generated page, myhero-UI-like.
CTX="$WORK/ctx"
mkdir -p "$CTX/www/assets"
for i in $(seq 1 200); do printf 'asset %s\n' "$i" > "$CTX/www/assets/a$i.txt"; done
echo '<h1>Make ONE voice heard!!!</h1>' > "$CTX/www/index.html"
cat > "$CTX/Dockerfile" <<DF
FROM oci:$WORK/base:busybox AS build
WORKDIR /src
COPY www/ /src/www/
RUN mkdir -p /out && cp -r /src/www /out/ && ls /out/www/assets | wc -l > /out/www/count.txt
RUN for i in \$(seq 1 100); do echo "line \$i" >> /out/www/generated.txt; done
FROM oci:$WORK/base:busybox
COPY --from=build /out/www /www
EXPOSE 8080
ENTRYPOINT ["httpd", "-f", "-p", "8080", "-h", "/www"]
DF

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
ferry_cold=0; ferry_hot=0; ba_cold=0; ba_hot=0
for r in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/fdata"
  t0=$(now); "$FERRY" build -q --data-dir "$WORK/fdata" --output "$WORK/fout" -t bench "$CTX" >/dev/null; t1=$(now)
  "$FERRY" build -q --data-dir "$WORK/fdata" --output "$WORK/fout" -t bench "$CTX" >/dev/null; t2=$(now)
  "${BA[@]}" rmi --all -f >/dev/null 2>&1 || true
  t3=$(now); "${BA[@]}" bud -q --layers --isolation oci -t bench "$CTX" >/dev/null; t4=$(now)
  "${BA[@]}" bud -q --layers --isolation oci -t bench "$CTX" >/dev/null; t5=$(now)
  fc=$(elapsed "$t0" "$t1"); fh=$(elapsed "$t1" "$t2"); bc_=$(elapsed "$t3" "$t4"); bh=$(elapsed "$t4" "$t5")
  printf 'run %s: ferry cold %.3fs cached %.3fs | buildah cold %.3fs cached %.3fs\n' "$r" "$fc" "$fh" "$bc_" "$bh"
  ferry_cold=$(echo "$ferry_cold + $fc" | bc -l); ferry_hot=$(echo "$ferry_hot + $fh" | bc -l)
  ba_cold=$(echo "$ba_cold + $bc_" | bc -l); ba_hot=$(echo "$ba_hot + $bh" | bc -l)
done
printf '\nmean over %s runs:\n' "$RUNS"
printf '  cold build:     ferry %.3fs  buildah %.3fs  ratio %.2fx (target <= 1.0x)\n' \
  "$(echo "$ferry_cold / $RUNS" | bc -l)" "$(echo "$ba_cold / $RUNS" | bc -l)" "$(echo "$ferry_cold / $ba_cold" | bc -l)"
printf '  cached rebuild: ferry %.3fs  buildah %.3fs  ratio %.2fx (target <= 0.5x)\n' \
  "$(echo "$ferry_hot / $RUNS" | bc -l)" "$(echo "$ba_hot / $RUNS" | bc -l)" "$(echo "$ferry_hot / $ba_hot" | bc -l)"
