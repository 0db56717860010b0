#!/usr/bin/env bash
# Benchmark: ferry's registry against CNCF Distribution v3, side by side on
# this machine in the same run, with the machine's floor beside them: nginx
# serving the very blob files the images were made of (sendfile on), for
# the pulls. Phases:
#   push big:   crane push of one image of BIG_MIB (default 2.5 GiB) in four
#               layers, to fresh servers each round;
#   pull big:   that image pulled PULL_REPEAT times in a row (default 3, so
#               7.5 GiB per phase): manifest by tag, then the four layers at
#               once, each read by curl into /dev/null;
#   push small: 1,000 small images, 8 crane processes at once;
#   pull small: the 1,000 images pulled PULL_REPEAT times by 8 curl
#               clients at once, each over one keep-alive connection.
# The same client, data and checks for every server. Servers run side by
# side; the order rotates every round (pushes: Distribution first in odd
# rounds, ferry first in even ones; pulls: the three take turns going
# first), so page cache and machine noise hit them alike. Each phase lasts
# seconds (several GiB), and runs ROUNDS times (default 5): the report gives
# the median and the spread (min-max) per phase and server, the ratios of
# the medians with the spread of the per-round ratios, each server's CPU
# time, and peak RSS. Ratios are throughputs: ferry / Distribution =
# Distribution's time / ferry's (targets: pull >= 1.5, push >= 1.2), and
# ferry / nginx = nginx's time / ferry's (1.0 = as fast as the machine
# serves the files; peak RSS: ferry's / Distribution's, target <= 0.5).
# Disk: the generated image plus one copy in each registry (3 x BIG_MIB at
# once), checked with df before starting; everything is removed on exit.
#
# Usage: bench/registry.sh [--small N] [--big-mib M] [--rounds R] [--pull-repeat K]
# Needs Go (builds Distribution and crane into $FERRY_PEERS_DIR once), nginx;
# FERRY_BIN=path skips building ferry.
set -euo pipefail

SMALL=1000
BIG_MIB=2560
ROUNDS=5
PULL_REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL="$2"; shift 2 ;;
    --big-mib) BIG_MIB="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --pull-repeat) PULL_REPEAT="$2"; shift 2 ;;
    *) echo "usage: $0 [--small N] [--big-mib M] [--rounds R] [--pull-repeat K]" >&2; exit 2 ;;
  esac
done
NGINX=${NGINX:-/usr/sbin/nginx}

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
# The generated image and a copy in each registry, plus 1 GiB to spare.
need_mib=$((3 * BIG_MIB + 1024))
free_mib=$(df -m --output=avail "$WORK" | tail -1)
if [ "$free_mib" -lt "$need_mib" ]; then
  echo "$WORK has $free_mib MiB free, the benchmark needs $need_mib MiB: lower --big-mib" >&2
  rm -rf "$WORK"; exit 1
fi
# nginx's workers run as nobody: they read the generated files.
chmod 755 "$WORK"
PIDS=()
NGPID=""
cleanup() { for p in "${PIDS[@]+"${PIDS[@]}"}" $NGPID; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_up() { for _ in $(seq 200); do curl -fs "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; echo "server $1 did not start" >&2; exit 1; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# CPU seconds (user + system) a process and its children (nginx's workers)
# have used so far.
cpu_s() { local q t=0; for q in $1 $(pgrep -P "$1" || true); do
  t=$((t + $(awk '{print $14 + $15}' "/proc/$q/stat"))); done
  echo "$t / $(getconf CLK_TCK)" | bc -l; }

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
# the digest, once per server in the first round, outside the timing (verify_big).
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
  # The whole set PULL_REPEAT times over, by the same clients.
  local c f
  for c in $(seq 0 $((SMALL_CLIENTS - 1))); do
    for f in urls expect; do
      for _ in $(seq "$PULL_REPEAT"); do cat "$WORK/spull/$f.$c"; done >"$WORK/spull/$f.$c.all"
      mv "$WORK/spull/$f.$c.all" "$WORK/spull/$f.$c"
    done
  done
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
      t0=$(now); for _ in $(seq "$PULL_REPEAT"); do pull_big "$addr" "$tag"; done; t1=$(now) ;;
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

# nginx, the floor for pulls: the generated files themselves, under the
# URLs a registry serves them at (symbolic links: tag `latest`), sendfile
# on, one worker per core as the registries use every core.
start_nginx() {
  local r="$WORK/ngx/root/v2" md i rest d
  mkdir -p "$r/big/image/manifests" "$r/big/image/blobs" "$WORK/ngx/logs"
  md=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$WORK/big/index.json")
  ln -s "$WORK/big/blobs/sha256/${md#sha256:}" "$r/big/image/manifests/latest"
  for d in $BIG_LAYERS; do ln -s "$WORK/big/blobs/sha256/${d#sha256:}" "$r/big/image/blobs/$d"; done
  while read -r i md _ rest; do
    mkdir -p "$r/small/img$i/manifests" "$r/small/img$i/blobs"
    ln -s "$WORK/small/$i/blobs/sha256/${md#sha256:}" "$r/small/img$i/manifests/latest"
    set -- $rest
    while [ $# -gt 0 ]; do ln -s "$WORK/small/$i/blobs/sha256/${1#sha256:}" "$r/small/img$i/blobs/$1"; shift 2; done
  done <"$WORK/small.list"
  chmod -R a+rX "$WORK/big" "$WORK/small" "$WORK/ngx/root"
  NPORT=$(free_port)
  cat > "$WORK/ngx/nginx.conf" <<NGX
worker_processes $(nproc); pid $WORK/ngx/nginx.pid; error_log $WORK/ngx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  default_type application/octet-stream; open_file_cache max=10000;
  server { listen 127.0.0.1:$NPORT; root $WORK/ngx/root; } }
NGX
  "$NGINX" -p "$WORK/ngx" -c "$WORK/ngx/nginx.conf" -g 'daemon off;' 2>"$WORK/ngx/logs/stderr" &
  NGPID=$!
  for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$NPORT/v2/big/image/manifests/latest" && return 0; sleep 0.05; done
  echo "nginx did not start" >&2; cat "$WORK/ngx/logs/"* >&2; exit 1
}

# Per phase and server: the seconds and server CPU seconds of every round.
declare -A T_ CPU_
PHASES=(push_big pull_big push_small pull_small)
run_one() { # phase server round
  local pid addr tag="r$3" c0
  case $2 in
    distribution) pid=$DPID; addr="127.0.0.1:$DPORT" ;;
    ferry) pid=$FPID; addr="127.0.0.1:$FPORT" ;;
    nginx) pid=$NGPID; addr="127.0.0.1:$NPORT"; tag=latest ;;
  esac
  c0=$(cpu_s "$pid")
  phase "$1" "$addr" "$tag"
  T_[$1,$2]+=" $T"; CPU_[$1,$2]+=" $(echo "$(cpu_s "$pid") - $c0" | bc -l)"
}

start_nginx
DRSS=0; FRSS=0
echo "== running ${ROUNDS} round(s), each on fresh registries =="
echo "   push big: crane push of ${BIG_MIB} MiB in 4 layers; push small: ${SMALL} images, 8 crane processes at once"
echo "   pull big: ${PULL_REPEAT} x (manifest by tag, then the 4 layers at once, curl into /dev/null)"
echo "   pull small: ${SMALL_CLIENTS} curl clients at once, each over one connection: ${PULL_REPEAT} x per image"
echo "     the manifest by tag, then config and layer into /dev/null; every status and size checked"
echo "   pulls also from nginx serving the generated files (sendfile): the machine's floor"
for round in $(seq 1 "$ROUNDS"); do
  start_servers
  for p in "${PHASES[@]}"; do
    case $p in
      push_*) if [ $((round % 2)) -eq 1 ]; then order="distribution ferry"; else order="ferry distribution"; fi ;;
      pull_*) order=$(echo distribution ferry nginx distribution ferry nginx | cut -d' ' -f$(( (round - 1) % 3 + 1 ))-$(( (round - 1) % 3 + 3 ))) ;;
    esac
    line=""
    for who in $order; do
      run_one "$p" "$who" "$round"
      line+=$(printf "  %s %.2fs (cpu %.2fs)" "$who" "$T" "$(echo "${CPU_[$p,$who]}" | awk '{print $NF}')")
    done
    echo "round $round $p:$line"
  done
  d=$(peak_rss_kib "$DPID"); f=$(peak_rss_kib "$FPID")
  # Digests checked with crane in the first round (every round checks each
  # response's status and size); the servers start empty every round.
  if [ "$round" = 1 ]; then
    verify_big "127.0.0.1:$DPORT" "r$round"; verify_big "127.0.0.1:$FPORT" "r$round"
    verify_small "127.0.0.1:$DPORT" "r$round"; verify_small "127.0.0.1:$FPORT" "r$round"
  fi
  [ "$d" -gt "$DRSS" ] && DRSS=$d
  [ "$f" -gt "$FRSS" ] && FRSS=$f
  stop_servers
done

python3 - "$ROUNDS" "$BIG_MIB" "$SMALL" "$PULL_REPEAT" "$DRSS" "$FRSS" <<REPORT
import statistics, sys
rounds, big_mib, small, rep, drss, frss = map(int, sys.argv[1:])
t = {$(for k in "${!T_[@]}"; do printf '"%s": [%s], ' "$k" "$(echo ${T_[$k]} | tr ' ' ',')"; done)}
cpu = {$(for k in "${!CPU_[@]}"; do printf '"%s": [%s], ' "$k" "$(echo ${CPU_[$k]} | tr ' ' ',')"; done)}
med = statistics.median
gib = {"push_big": big_mib / 1024, "pull_big": rep * big_mib / 1024}
what = {"push_big": f"{big_mib} MiB", "pull_big": f"{rep} x {big_mib} MiB",
        "push_small": f"{small} images", "pull_small": f"{rep} x {small} images"}
print()
print(f"== seconds per phase over {rounds} rounds: median (min-max), server CPU median ==")
for p in ["push_big", "pull_big", "push_small", "pull_small"]:
    cells = []
    for who in ["distribution", "ferry", "nginx"]:
        v = t.get(f"{p},{who}")
        if not v:
            continue
        rate = f", {gib[p] / med(v):.2f} GiB/s" if p in gib else ""
        cells.append(f"{who} {med(v):.2f}s ({min(v):.2f}-{max(v):.2f}{rate}; cpu {med(cpu[f'{p},{who}']):.2f}s)")
    print(f"{p:10} {what[p]:>18}: " + "; ".join(cells))
print()
print("== ratios (throughput: the other's time / ferry's; median of rounds, per-round spread) ==")
targets = {"pull_big": 1.5, "pull_small": 1.5, "push_big": 1.2, "push_small": 1.2}
for p in ["pull_big", "pull_small", "push_big", "push_small"]:
    f = t[f"{p},ferry"]
    for peer in ["distribution", "nginx"]:
        o = t.get(f"{p},{peer}")
        if not o:
            continue
        per = [b / a for a, b in zip(f, o)]
        tail = f"(target >= {targets[p]})" if peer == "distribution" else "(1.00 = the machine's floor)"
        print(f"{p:10} ferry / {peer:12} {med(o) / med(f):5.2f}x  (rounds {min(per):.2f}-{max(per):.2f})  {tail}")
print(f"peak RSS   ferry / distribution {frss / drss:5.2f}x  ({frss // 1024} vs {drss // 1024} MiB; target <= 0.5)")
REPORT
