#!/usr/bin/env bash
# Cost breakdown of one webhook delivery, and the floors it implies. PRINTS figures; asserts nothing.
#
# 1. `examples/intake_breakdown.rs measure`: CPU per ~12 KB issues.labeled delivery of HMAC verification,
#    payload parsing and the intake decision; the latency of a 4 KB write + fdatasync on this disk; the real
#    queue's record (synchronous=FULL) with 1 and 16 callers on disk and on tmpfs (CPU without the flush);
#    the whole handler driven in-process; and the group size the writer reaches.
# 2. Over HTTP, under wrk with the same signed bodies and Lua script as bench/webhooks.sh: the floor
#    (`intake_breakdown floor`, an axum route that reads the body and answers 202) and the ceiling
#    (`intake_breakdown ceiling`, the real extractor and decision answering 202 without a database) for
#    the labeled and star mixes; prints rate, latency and the server's CPU per request.
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
for mix in labeled star; do
  python3 "$BENCH/payloads.py" "$mix" 300 "$SECRET" "$ROOT/tests/fixtures/webhooks" "$TMP/$mix.lua"
done

# measure_http TITLE LUA MODE [ARGS...]: starts `$BIN MODE PORT ARGS...`, runs wrk against it, prints a line.
measure_http() {
  local title=$1 lua=$2 mode=$3; shift 3
  local port url c0 c1 line req dur
  port=$(free_port)
  BENCH_SECRET=$SECRET "$BIN" "$mode" "$port" "$@" 2>"$TMP/$mode.log" &
  SERVER_PID=$!
  url="http://127.0.0.1:$port/api/github/webhooks"
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break  # any answer (a 404 too): it listens
    kill -0 "$SERVER_PID" 2>/dev/null || die "the $mode server exited: $(cat "$TMP/$mode.log")"
    sleep 0.1
  done
  c0=$(cpu_ticks "$SERVER_PID")
  line=$(run_wrk 2 "$CONNECTIONS" "$DURATION" "$lua" "$url")
  c1=$(cpu_ticks "$SERVER_PID")
  kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  req=$(field requests "$line"); dur=$(field duration_us "$line")
  awk -v title="$title" -v r="$req" -v d="$dur" -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
    -v p50="$(field p50_us "$line")" -v p99="$(field p99_us "$line")" -v st="$(field status_errors "$line")" 'BEGIN {
    printf "  %-28s %6.0f/s, p50 %.2f ms p99 %.2f ms, server CPU %3.0f%% = %3.0f µs per request (%d non-2xx)\n",
      title, r / (d / 1e6), p50 / 1000, p99 / 1000, 100 * t / hz / (d / 1e6), 1e6 * t / hz / r, st }'
}

echo
echo "Over HTTP, wrk -t2 -c$CONNECTIONS -d$DURATION with bench/webhooks.lua and the signed bodies of webhooks.sh:"
echo "  floor:   an axum route that reads the body and answers 202 (no HMAC, no parse, no database);"
echo "  ceiling: the real webhook extractor (HMAC, parse) and decision, answering 202 with no database —"
echo "           what serve could reach here if persisting cost nothing."
measure_http "floor, labeled bodies" "$TMP/labeled.lua" floor
measure_http "ceiling, labeled mix" "$TMP/labeled.lua" ceiling "$TMP/ceiling.db"
measure_http "ceiling, star mix" "$TMP/star.lua" ceiling "$TMP/ceiling.db"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews wall-clock figures)"
