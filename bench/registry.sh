#!/usr/bin/env bash
# Benchmark: ferry's registry against CNCF Distribution v3, side by side on
# this machine in the same run. Push (crane) of one 1 GiB image of four
# layers and of 1,000 small images; pull of the same with curl into
# /dev/null (see pull_big and pull_small: a fast client, so the servers are
# timed, not the client's process starts and disk writes); peak RSS of each
# server. Both servers run at once and every phase alternates between them
# (which one goes first flips each round), so page cache and machine noise
# hit both. Prints each round's times, each server's CPU time per phase and
# the ratios ferry / Distribution: throughput (Distribution's time /
# ferry's; targets: pull >= 1.5, push >= 1.2) and peak RSS (ferry's /
# Distribution's; target <= 0.5).
#
# Figures on the 2-core dev machine (2026-11-22, one run of --rounds 3,
# another engineer's builds alongside, load average 7-8), ferry /
# Distribution, per round:
#   pull big 1.42x, 1.06x, 1.72x; pull small 5.72x, 7.11x, 4.16x;
#   push big 1.62x, 1.14x, 1.87x; push small 1.98x, 1.90x, 2.37x;
#   peak RSS 0.34x (31 vs 91 MiB).
#   pull small: ferry 0.55-0.58 s (server CPU 0.37-0.55 s), Distribution
#   2.4-3.9 s (server CPU 3.8-4.1 s). With crane pull into directories (one
#   process per image) the same phase took 5.3-5.5 s for both and measured
#   crane: 1.41x with ferry's server CPU at 0.93 s vs Distribution's 5.50 s.
#   With blobs sent from memory maps (storage/chunks.rs), two runs of
#   --rounds 3 right after (load 2-7): pull big 1.57x, 1.68x, 1.67x and
#   1.45x, 1.45x, 1.73x (ferry's server CPU 0.24-0.40 s, was 0.34-0.48 s;
#   Distribution's 0.54-0.73 s); pull small 6.02-7.20x; push big
#   1.59-1.92x; push small 1.55-2.14x; peak RSS 0.38-0.39x (33-35 MiB).
#   The 1 GiB phases last 0.3-2 s and swing up to 2x between rounds.
#
# Usage: bench/registry.sh [--small N] [--big-mib M] [--rounds R]
# Needs Go (builds Distribution and crane into $FERRY_PEERS_DIR once);
# FERRY_BIN=path skips building ferry.
set -euo pipefail

SMALL=1000
BIG_MIB=1024
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL="$2"; shift 2 ;;
    --big-mib) BIG_MIB="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "usage: $0 [--small N] [--big-mib M] [--rounds R]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="${FERRY_PEERS_DIR:-$HOME/.cache/ferry/peers}"
mkdir -p "$PEERS"
export GOFLAGS="${GOFLAGS:-} -modcacherw"
[ -x "$PEERS/registry" ] || GOBIN="$PEERS" go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2
# crane is pinned and built by scripts/setup.sh --test-peers.
[ -x "$PEERS/crane" ] || bash "$ROOT/scripts/setup.sh" --test-peers >&2
CRANE="$PEERS/crane"

FERRY="${FERRY_BIN:-}"
if [ -z "$FERRY" ]; then
  (cd "$ROOT" && cargo build --profile perf -q -p ferry)
  FERRY="${CARGO_TARGET_DIR:-$ROOT/target}/perf/ferry"
fi

WORK="$(mktemp -d /tmp/ferry-bench-registry.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_up() { for _ in $(seq 200); do curl -fs "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; echo "server $1 did not start" >&2; exit 1; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

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

# The big image's layer digests (from the generated layout, so the timed
# phase needs no JSON tooling).
BIG_LAYERS=$(python3 -c 'import json,sys
d=sys.argv[1]; i=json.load(open(d+"/index.json"))["manifests"][0]["digest"].split(":")[1]
print(" ".join(l["digest"] for l in json.load(open(d+"/blobs/sha256/"+i))["layers"]))' "$WORK/big")

# One line per small image, from its generated layout (outside any timing,
# like BIG_LAYERS): its number, its manifest's digest and size, then the
# digest and size of each blob (config, layer).
python3 - "$WORK/small" "$SMALL" >"$WORK/small.list" <<'PY'
import json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = f"{root}/{i}"
    md = json.load(open(d + "/index.json"))["manifests"][0]["digest"]
    m = json.load(open(d + "/blobs/sha256/" + md.split(":")[1]))
    blobs = [m["config"]] + m["layers"]
    ms = os.path.getsize(d + "/blobs/sha256/" + md.split(":")[1])
    print(i, md, ms, " ".join(f'{b["digest"]} {b["size"]}' for b in blobs))
PY

# Pull of the big image as a registry sees it from a fast client: the
# manifest by tag, then the four layers at once, each read by curl into
# /dev/null. A pull into a directory (crane pull) timed the client's own
# disk writes and hashing more than the server, and made any two servers
# look alike; curl stays out of the way (it checks the status and, below,
# the byte count). Every layer is also fetched with crane, which verifies
# the digest, once per server and round, outside the timing (verify_big).
pull_big() {
  local addr="$1" tag="$2" pids=() d pid
  curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$addr/v2/big/image/manifests/$tag"
  for d in $BIG_LAYERS; do
    curl -fsS -o /dev/null -w '%{size_download}\n' "http://$addr/v2/big/image/blobs/$d" >"$WORK/size.${d#sha256:}" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for d in $BIG_LAYERS; do
    [ "$(cat "$WORK/size.${d#sha256:}")" = "$(stat -c %s "$WORK/big/blobs/sha256/${d#sha256:}")" ] ||
      { echo "pull big from $addr: short layer $d" >&2; exit 1; }
  done
}
verify_big() {
  local addr="$1" tag="$2" d
  for d in $BIG_LAYERS; do
    "$CRANE" blob --insecure "$addr/big/image@$d" >/dev/null ||
      { echo "layer $d from $addr does not match its digest" >&2; exit 1; }
  done
}

# Pull of the small images the same way: 8 clients at once (as crane
# pulls were run with xargs -P 8 before), each one curl process fetching
# its share of the images in turn over one keep-alive connection: per
# image the manifest by tag, then its config and its layer, into
# /dev/null. crane pull into a directory, one process per image, spent
# most of the phase starting processes and writing files (ferry's server
# CPU was a sixth of the wall time). The URL lists and the expected
# status and size of every response are written before the timing
# (small_lists); every response is checked after it (small_check), and a
# sample of images is fetched with crane, which checks digests
# (verify_small).
SMALL_CLIENTS=8
small_lists() {
  local addr="$1" tag="$2"
  awk -v addr="$addr" -v tag="$tag" -v dir="$WORK/spull" -v k="$SMALL_CLIENTS" '{
    c = $1 % k; cfg = dir "/urls." c; want = dir "/expect." c
    u = "http://" addr "/v2/small/img" $1
    printf "url = \"%s/manifests/%s\"\noutput = \"/dev/null\"\n", u, tag > cfg
    printf "200 %s %s/manifests/%s\n", $3, u, tag > want
    for (j = 4; j < NF; j += 2) {
      printf "url = \"%s/blobs/%s\"\noutput = \"/dev/null\"\n", u, $j > cfg
      printf "200 %s %s/blobs/%s\n", $(j + 1), u, $j > want
    }
  }' "$WORK/small.list"
}
pull_small() {
  local c pids=() pid
  for c in $(seq 0 $((SMALL_CLIENTS - 1))); do
    curl -sS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      -w '%{http_code} %{size_download} %{url_effective}\n' \
      -K "$WORK/spull/urls.$c" >"$WORK/spull/got.$c" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}
small_check() {
  local addr="$1" c
  for c in $(seq 0 $((SMALL_CLIENTS - 1))); do
    cmp -s "$WORK/spull/expect.$c" "$WORK/spull/got.$c" || {
      echo "pull small from $addr: unexpected responses (expected < > got):" >&2
      diff "$WORK/spull/expect.$c" "$WORK/spull/got.$c" | head -5 >&2
      exit 1
    }
  done
}
verify_small() {
  local addr="$1" tag="$2" i md ms rest d
  while read -r i md ms rest; do
    [ $((i % (SMALL / 10 > 0 ? SMALL / 10 : 1))) -eq 0 ] || continue
    [ "sha256:$("$CRANE" manifest --insecure "$addr/small/img$i:$tag" | sha256sum | cut -d' ' -f1)" = "$md" ] ||
      { echo "manifest of small/img$i from $addr does not match its digest" >&2; exit 1; }
    set -- $rest
    while [ $# -gt 0 ]; do
      "$CRANE" blob --insecure "$addr/small/img$i@$1" >/dev/null ||
        { echo "blob $1 of small/img$i from $addr does not match its digest" >&2; exit 1; }
      shift 2
    done
  done <"$WORK/small.list"
}

# One phase against one server; sets T (seconds).
phase() {
  local what="$1" addr="$2" tag="$3" t0 t1
  rm -rf "$WORK/pulled" "$WORK/spull"
  # Flush dirty pages first: ferry fsyncs what it stores, and on ext4 an
  # fsync can end up writing back what the previous phase (or the other
  # server, which does not fsync) left dirty.
  sync
  case "$what" in
    push_big)
      t0=$(now); "$CRANE" push --insecure "$WORK/big" "$addr/big/image:$tag" >/dev/null 2>&1; t1=$(now) ;;
    pull_big)
      t0=$(now); pull_big "$addr" "$tag"; t1=$(now) ;;
    push_small)
      t0=$(now)
      seq 0 $((SMALL - 1)) | xargs -P 8 -I{} "$CRANE" push --insecure "$WORK/small/{}" "$addr/small/img{}:$tag" >/dev/null 2>&1
      t1=$(now) ;;
    pull_small)
      mkdir -p "$WORK/spull"
      small_lists "$addr" "$tag"
      t0=$(now); pull_small; t1=$(now)
      small_check "$addr" ;;
  esac
  T=$(echo "$t1 - $t0" | bc -l)
}

# Fresh, empty Distribution v3 and ferry servers for one round.
start_servers() {
  rm -rf "$WORK/dist-data" "$WORK/ferry-data"
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
  FPORT=$(free_port)
  RUST_LOG=warn "$FERRY" registry serve --addr "127.0.0.1:$FPORT" --data-dir "$WORK/ferry-data" >"$WORK/ferry.log" 2>&1 &
  FPID=$!; PIDS+=("$FPID")
  wait_up "127.0.0.1:$FPORT"
}
stop_servers() {
  kill "$DPID" "$FPID" 2>/dev/null || true
  wait "$DPID" "$FPID" 2>/dev/null || true
  PIDS=()
  rm -rf "$WORK/dist-data" "$WORK/ferry-data"
}

ratio() { echo "scale=2; $1 / $2" | bc -l; }
PHASES=(push_big pull_big push_small pull_small)
declare -A SUM_D SUM_F
for p in "${PHASES[@]}"; do SUM_D[$p]=0; SUM_F[$p]=0; done

DRSS=0; FRSS=0
echo "== running ${ROUNDS} round(s), each on fresh servers =="
echo "   push: crane push (small images: 8 crane processes at once)"
echo "   pull big: manifest by tag, then the 4 layers at once, curl into /dev/null"
echo "   pull small: ${SMALL_CLIENTS} curl clients at once, each over one connection: per image"
echo "     the manifest by tag, then config and layer into /dev/null; every status and size checked"
for round in $(seq 1 "$ROUNDS"); do
  start_servers
  tag="r$round"
  for p in "${PHASES[@]}"; do
    if [ $((round % 2)) -eq 1 ]; then order="d f"; else order="f d"; fi
    for who in $order; do
      if [ "$who" = d ]; then
        c0=$(cpu_s "$DPID"); phase "$p" "127.0.0.1:$DPORT" "$tag"; TD=$T; CD=$(echo "$(cpu_s "$DPID") - $c0" | bc -l)
      else
        c0=$(cpu_s "$FPID"); phase "$p" "127.0.0.1:$FPORT" "$tag"; TF=$T; CF=$(echo "$(cpu_s "$FPID") - $c0" | bc -l)
      fi
    done
    SUM_D[$p]=$(echo "${SUM_D[$p]} + $TD" | bc -l); SUM_F[$p]=$(echo "${SUM_F[$p]} + $TF" | bc -l)
    printf "round %d %-10s distribution %7.2fs (server cpu %6.2fs, peak RSS %4d MiB)  ferry %7.2fs (server cpu %6.2fs, peak RSS %4d MiB)  ferry/distribution %sx\n" \
      "$round" "$p" "$TD" "$CD" $(($(peak_rss_kib "$DPID") / 1024)) "$TF" "$CF" $(($(peak_rss_kib "$FPID") / 1024)) "$(ratio "$TD" "$TF")"
  done
  d=$(peak_rss_kib "$DPID"); f=$(peak_rss_kib "$FPID")
  verify_big "127.0.0.1:$DPORT" "$tag"; verify_big "127.0.0.1:$FPORT" "$tag"
  verify_small "127.0.0.1:$DPORT" "$tag"; verify_small "127.0.0.1:$FPORT" "$tag"
  [ "$d" -gt "$DRSS" ] && DRSS=$d
  [ "$f" -gt "$FRSS" ] && FRSS=$f
  stop_servers
done
echo
echo "== totals over ${ROUNDS} round(s) (${BIG_MIB} MiB image in 4 layers; ${SMALL} small images) =="
printf "%-12s %10s %10s\n" "" distribution ferry
for p in "${PHASES[@]}"; do printf "%-12s %9.2fs %9.2fs\n" "$p" "${SUM_D[$p]}" "${SUM_F[$p]}"; done
printf "%-12s %7d MiB %6d MiB\n" "peak RSS" $((DRSS / 1024)) $((FRSS / 1024))
echo
echo "== ratios ferry / distribution (throughput = distribution time / ferry time) =="
echo "pull big   (${BIG_MIB} MiB):   $(ratio "${SUM_D[pull_big]}" "${SUM_F[pull_big]}")x   (target >= 1.5)"
echo "pull small (${SMALL} images): $(ratio "${SUM_D[pull_small]}" "${SUM_F[pull_small]}")x   (target >= 1.5)"
echo "push big   (${BIG_MIB} MiB):   $(ratio "${SUM_D[push_big]}" "${SUM_F[push_big]}")x   (target >= 1.2)"
echo "push small (${SMALL} images): $(ratio "${SUM_D[push_small]}" "${SUM_F[push_small]}")x   (target >= 1.2)"
echo "peak RSS:                 $(ratio "$FRSS" "$DRSS")x   (target <= 0.5)"
