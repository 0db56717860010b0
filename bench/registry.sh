#!/usr/bin/env bash
# Benchmark: ferry's registry against CNCF Distribution v3, side by side on
# this machine in the same run. Push and pull (with crane) of one 1 GiB image
# of four layers and of 1,000 small images; peak RSS of each server. Prints
# the throughput and RSS ratios (targets: pull >= 1.5x Distribution's, push
# >= 1.2x, peak RSS <= 0.5x).
#
# Usage: bench/registry.sh [--small N] [--big-mib M]
# Needs Go (builds Distribution and crane into $FERRY_PEERS_DIR once).
set -euo pipefail

SMALL=1000
BIG_MIB=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL="$2"; shift 2 ;;
    --big-mib) BIG_MIB="$2"; shift 2 ;;
    *) echo "usage: $0 [--small N] [--big-mib M]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}"
mkdir -p "$PEERS"
export GOFLAGS="${GOFLAGS:-} -modcacherw"
[ -x "$PEERS/registry" ] || GOBIN="$PEERS" go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2
[ -x "$PEERS/crane" ] || GOBIN="$PEERS" go install github.com/google/go-containerregistry/cmd/crane@latest
CRANE="$PEERS/crane"

FERRY="${FERRY_BIN:-}"
if [ -z "$FERRY" ]; then
  (cd "$ROOT" && cargo build --release -q -p ferry)
  FERRY="$ROOT/target/release/ferry"
fi

WORK="$(mktemp -d /tmp/ferry-bench-registry.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_up() { for _ in $(seq 200); do curl -fs "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; echo "server $1 did not start" >&2; exit 1; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

echo "== generating images (1 x ${BIG_MIB} MiB in 4 layers, ${SMALL} small) =="
python3 - "$WORK" "$BIG_MIB" "$SMALL" <<'PY'
import hashlib, json, os, sys
work, big_mib, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def layout(path, layers):
    os.makedirs(f"{path}/blobs/sha256", exist_ok=True)
    def put(b):
        d = hashlib.sha256(b).hexdigest()
        with open(f"{path}/blobs/sha256/{d}", "wb") as f: f.write(b)
        return "sha256:" + d, len(b)
    descs = []
    for gen in layers:
        h = hashlib.sha256(); tmp = f"{path}/blobs/sha256/tmp"; n = 0
        with open(tmp, "wb") as f:
            for chunk in gen():
                h.update(chunk); f.write(chunk); n += len(chunk)
        d = h.hexdigest(); os.rename(tmp, f"{path}/blobs/sha256/{d}")
        descs.append(("sha256:" + d, n))
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d for d, _ in descs]}}).encode()
    cd, cs = put(cfg)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s} for d, s in descs]}).encode()
    md, ms = put(m)
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms}]}, open(f"{path}/index.json", "w"))
    open(f"{path}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
def rand_layer(mib, seed):
    def gen():
        block = hashlib.sha512(str(seed).encode()).digest() * 16384  # 1 MiB
        for i in range(mib):
            yield bytes([i & 255]) + block[1:]
    return gen
per = big_mib // 4
layout(f"{work}/big", [rand_layer(per, s) for s in range(4)])
for i in range(small):
    layout(f"{work}/small/{i}", [lambda i=i: [os.urandom(2048) + str(i).encode()]])
PY

bench_server() {
  local name="$1" addr="$2" pid="$3"
  local t0 t1
  t0=$(now); "$CRANE" push --insecure "$WORK/big" "$addr/big/image:v1" >/dev/null 2>&1; t1=$(now)
  BIG_PUSH=$(echo "$t1 - $t0" | bc -l)
  rm -rf "$WORK/pulled-$name"
  t0=$(now); "$CRANE" pull --insecure --format oci "$addr/big/image:v1" "$WORK/pulled-$name" >/dev/null 2>&1; t1=$(now)
  BIG_PULL=$(echo "$t1 - $t0" | bc -l)
  rm -rf "$WORK/pulled-$name"
  t0=$(now)
  seq 0 $((SMALL - 1)) | xargs -P 8 -I{} "$CRANE" push --insecure "$WORK/small/{}" "$addr/small/img{}:v1" >/dev/null 2>&1
  t1=$(now); SMALL_PUSH=$(echo "$t1 - $t0" | bc -l)
  mkdir -p "$WORK/spull-$name"
  t0=$(now)
  seq 0 $((SMALL - 1)) | xargs -P 8 -I{} "$CRANE" pull --insecure --format oci "$addr/small/img{}:v1" "$WORK/spull-$name/{}" >/dev/null 2>&1
  t1=$(now); SMALL_PULL=$(echo "$t1 - $t0" | bc -l)
  rm -rf "$WORK/spull-$name"
  RSS=$(peak_rss_kib "$pid")
  printf "%-13s big push %6.2fs (%6.1f MiB/s)  big pull %6.2fs (%6.1f MiB/s)  %d small: push %6.2fs  pull %6.2fs  peak RSS %s MiB\n" \
    "$name" "$BIG_PUSH" "$(echo "$BIG_MIB / $BIG_PUSH" | bc -l)" "$BIG_PULL" "$(echo "$BIG_MIB / $BIG_PULL" | bc -l)" \
    "$SMALL" "$SMALL_PUSH" "$SMALL_PULL" "$((RSS / 1024))"
}

# Distribution v3.
DPORT=$(free_port)
cat > "$WORK/dist.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $WORK/dist-data}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$DPORT}
YML
OTEL_TRACES_EXPORTER=none "$PEERS/registry" serve "$WORK/dist.yml" >"$WORK/dist.log" 2>&1 &
DPID=$!; PIDS+=("$DPID")
wait_up "127.0.0.1:$DPORT"

# ferry.
FPORT=$(free_port)
RUST_LOG=warn "$FERRY" registry serve --addr "127.0.0.1:$FPORT" --data-dir "$WORK/ferry-data" >"$WORK/ferry.log" 2>&1 &
FPID=$!; PIDS+=("$FPID")
wait_up "127.0.0.1:$FPORT"

echo "== running (crane, 8 parallel clients for small images) =="
bench_server distribution "127.0.0.1:$DPORT" "$DPID"
D=("$BIG_PUSH" "$BIG_PULL" "$SMALL_PUSH" "$SMALL_PULL" "$RSS")
bench_server ferry "127.0.0.1:$FPORT" "$FPID"
F=("$BIG_PUSH" "$BIG_PULL" "$SMALL_PUSH" "$SMALL_PULL" "$RSS")

ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo
echo "== ferry / distribution (throughput ratio = distribution time / ferry time) =="
echo "push ${BIG_MIB} MiB image:    $(ratio "${D[0]}" "${F[0]}")x   (target >= 1.2)"
echo "pull ${BIG_MIB} MiB image:    $(ratio "${D[1]}" "${F[1]}")x   (target >= 1.5)"
echo "push $SMALL small images: $(ratio "${D[2]}" "${F[2]}")x   (target >= 1.2)"
echo "pull $SMALL small images: $(ratio "${D[3]}" "${F[3]}")x   (target >= 1.5)"
echo "peak RSS:              $(ratio "${F[4]}" "${D[4]}")x   (target <= 0.5)"
