#!/usr/bin/env bash
# Cost breakdown of one webhook delivery, and the floors it implies. PRINTS figures; asserts nothing.
#
# 1. `examples/intake_breakdown.rs measure`: CPU per ~12 KB issues.labeled delivery of HMAC verification,
#    payload parsing and the intake decision; the latency of a 4 KB write + fdatasync on this disk; the real
#    queue's record (synchronous=FULL) with 1 and 16 callers on disk and on tmpfs (CPU without the flush);
#    the whole handler driven in-process; and the group size the writer reaches.
# 2. The HTTP floor: `intake_breakdown floor`, an axum route that reads the body and answers 202, under
#    wrk with the same signed bodies and Lua script as bench/webhooks.sh; prints rate, latency and the
#    server's CPU per request.
set -euo pipefail

usage() {
  cat <<'EOF2'
usage: bench/intake_breakdown.sh [options]
  -d, --duration D     wrk duration of the HTTP floor run (default 10s)
  -c, --connections N  connections of the HTTP floor run (default 16)
      --db-dir DIR     folder for the on-disk SQLite file and fsync probe (default: a temp folder under
                       $TMPDIR or /tmp, the folder bench/webhooks.sh puts its databases in)
      --issues N       distinct issues the queued jobs rotate over (default 300, as bench/webhooks.sh)
      --no-build       do not run `cargo build --release --example intake_breakdown`
EOF2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
DURATION=10s CONNECTIONS=16 DB_DIR="" BUILD=1 ISSUES=300
while [ $# -gt 0 ]; do
  case "$1" in
    -d|--duration) DURATION=$2; shift 2 ;;
    -c|--connections) CONNECTIONS=$2; shift 2 ;;
    --db-dir) DB_DIR=$2; shift 2 ;;
    --issues) ISSUES=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
require_bench_tools

if [ "$BUILD" = 1 ]; then
  echo "bench: cargo build --release --example intake_breakdown" >&2
  (cd "$ROOT" && cargo build --release --quiet --example intake_breakdown)
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/intake_breakdown
[ -x "$BIN" ] || die "example not found: $BIN (build it, or drop --no-build)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/metagpt-breakdown.XXXXXX")
SERVER_PID=""
cleanup() {
  [ -z "$SERVER_PID" ] || { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "intake cost breakdown — $(nproc) CPU(s), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$BIN" measure "${DB_DIR:-$TMP}" "$ISSUES"

SECRET=$(openssl rand -hex 20)
python3 "$BENCH/payloads.py" labeled 300 "$SECRET" "$ROOT/tests/fixtures/webhooks" "$TMP/labeled.lua"
PORT=$(free_port)
"$BIN" floor "$PORT" 2>"$TMP/floor.log" &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT/api/github/webhooks"
for _ in $(seq 100); do
  curl -fs -o /dev/null -X POST -d '{}' "$URL" && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "the floor server exited: $(cat "$TMP/floor.log")"
  sleep 0.1
done
c0=$(cpu_ticks "$SERVER_PID")
line=$(run_wrk 2 "$CONNECTIONS" "$DURATION" "$TMP/labeled.lua" "$URL")
c1=$(cpu_ticks "$SERVER_PID")
req=$(field requests "$line"); dur=$(field duration_us "$line")
echo
echo "HTTP floor: axum route reading the same ~12 KB signed bodies and answering 202 (no HMAC, no parse,"
echo "no database), wrk -t2 -c$CONNECTIONS -d$DURATION with bench/webhooks.lua:"
awk -v r="$req" -v d="$dur" -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v p50="$(field p50_us "$line")" \
  -v p99="$(field p99_us "$line")" -v st="$(field status_errors "$line")" 'BEGIN {
  printf "  %.0f/s, latency p50 %.2f ms p99 %.2f ms, server CPU %.0f%% = %.0f µs per request (%d non-2xx)\n",
    r / (d / 1e6), p50 / 1000, p99 / 1000, 100 * t / hz / (d / 1e6), 1e6 * t / hz / r, st }'
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews wall-clock figures)"
