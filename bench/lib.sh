# bench/lib.sh — sourced by the bench scripts that time ferry's embedded
# runtime (runtime.sh, chart.sh): the binary under test, a work directory,
# one region's `ferry up` on loopback ports and curl against its API.
#
#   bench_init NAME   FERRY (default: the perf binary), $work, FERRY_SERVER,
#                     FERRY_CONFIG (run from the repository root)
#   ferry_up          starts `ferry up` (data dir $work/local), waits for
#                     /readyz, reads the admin token it wrote; up_pid
#   ferry_down        stops it (SIGINT, as Ctrl-C) and waits
#   ferry_api PATH    GET /api/v1/PATH with the admin token (curl, no CLI)
#   poll_until S I CMD...  runs CMD every I seconds until it succeeds; after
#                     S seconds fails naming CMD, with the end of up.log
#   now / since T0    wall clock, seconds since T0
#
# Each script sets its own `trap cleanup EXIT` calling ferry_down first.

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }

bench_init() { # name
  FERRY=${FERRY:-${CARGO_TARGET_DIR:-target}/perf/ferry}
  [ -x "$FERRY" ] || { echo "build first: cargo build --profile perf -p ferry (or set FERRY)" >&2; exit 1; }
  FERRY=$(realpath "$FERRY")
  work=$(mktemp -d "/tmp/ferry-bench-$1.XXXXXX")
  api_port=$((20000 + RANDOM % 20000))
  export FERRY_SERVER="http://127.0.0.1:$api_port"
  # `ferry up` writes its admin token here; the CLI and the polls use it.
  export FERRY_CONFIG="$work/client-config.yaml"
  up_pid=""
}

ferry_up() {
  cat > "$work/topology.yaml" <<YAML
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: local}
spec:
  dataDir: $work/local
  listeners: {api: 127.0.0.1:$api_port, registry: 127.0.0.1:0, gateway: 127.0.0.1:0}
YAML
  "$FERRY" up -f "$work/topology.yaml" > "$work/up.log" 2>&1 &
  up_pid=$!
  local _
  for _ in $(seq 100); do curl -sf "$FERRY_SERVER/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "$FERRY_SERVER/readyz" >/dev/null || { echo "ferry up did not start:" >&2; tail -20 "$work/up.log" >&2; exit 1; }
  token=$(awk '/token:/ {print $2; exit}' "$FERRY_CONFIG")
}

ferry_down() {
  if [ -n "$up_pid" ]; then kill -INT "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; fi
  up_pid=""
}

ferry_api() { # path
  curl -sf -H "Authorization: Bearer $token" "$FERRY_SERVER/api/v1/$1"
}

poll_until() { # deadline_s interval_s cmd...
  local deadline=$(($(date +%s) + $1)) interval=$2
  shift 2
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out waiting for: $*; the end of ferry up's log:" >&2
      tail -20 "$work/up.log" >&2
      return 1
    fi
    sleep "$interval"
  done
}
