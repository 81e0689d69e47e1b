#!/usr/bin/env bash
# Webhook intake benchmark: fires signed deliveries at `metagpt-bot serve` on 127.0.0.1 with wrk and PRINTS
# requests/s, p50/p99 latency, idle and peak RSS and the persisted counts. A printed figure, not a test:
# nothing here fails on a slow result; it fails only when it cannot measure.
#
# Each (mix, connections) pair runs against a fresh server process (fresh SQLite file), so idle RSS is
# read right after start and VmHWM after the run is that run's peak. Afterwards the rows in `deliveries`
# are compared with the 2xx answers wrk counted: every answered delivery must have been persisted; wrk
# drops requests still in flight when its clock stops, so up to one extra row per connection is expected.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/webhooks.sh [options]
  -d, --duration D       wrk duration per run (default 10s; wrk syntax: 10s, 1m)
  -c, --connections "N…" connection counts to run (default "16 64")
  -t, --threads N        wrk threads (default 2; capped at the connection count)
  -m, --mixes "M…"       payload mixes: labeled (enqueues a job), star (ignored, record only); default both
  -n, --bodies N         distinct issues/bodies for the labeled mix (default 300)
      --postgres URL     use this Postgres database instead of a fresh SQLite file per run
      --bin PATH         use this binary instead of building target/release/metagpt-bot
      --no-build         do not run `cargo build --release` (uses the existing binary)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
FIXTURES="$ROOT/tests/fixtures/webhooks"
DURATION=10s CONNECTIONS="16 64" THREADS=2 MIXES="labeled star" BODIES=300 PG_URL="" BIN="" BUILD=1
WEBHOOK_PATH=/api/github/webhooks

while [ $# -gt 0 ]; do
  case "$1" in
    -d|--duration) DURATION=$2; shift 2 ;;
    -c|--connections) CONNECTIONS=$2; shift 2 ;;
    -t|--threads) THREADS=$2; shift 2 ;;
    -m|--mixes) MIXES=$2; shift 2 ;;
    -n|--bodies) BODIES=$2; shift 2 ;;
    --postgres) PG_URL=$2; shift 2 ;;
    --bin) BIN=$2; BUILD=0; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
require_bench_tools
[ -z "$PG_URL" ] || command -v psql >/dev/null || die "--postgres needs psql (Debian package: postgresql-client)"
[ -f "$FIXTURES/issues.labeled.json" ] || die "fixtures not found in $FIXTURES"

if [ "$BUILD" = 1 ]; then
  echo "bench: cargo build --release (may take a few minutes on a cold cache)" >&2
  (cd "$ROOT" && cargo build --release --quiet --bin metagpt-bot)
fi
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/metagpt-bot}
[ -x "$BIN" ] || die "binary not found: $BIN (build it, or pass --bin PATH)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/metagpt-bench.XXXXXX")
SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

SECRET=$(openssl rand -hex 20)
openssl genrsa -out "$TMP/app.pem" 2048 2>/dev/null
for mix in $MIXES; do
  python3 "$BENCH/payloads.py" "$mix" "$BODIES" "$SECRET" "$FIXTURES" "$TMP/$mix.lua"
done

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# count TABLE DATABASE_URL → row count, or "-" when the table does not exist.
count() {
  if [ -n "$PG_URL" ]; then
    psql "$2" -XAtqc "select count(*) from $1" 2>/dev/null || echo -
  else
    python3 - "$1" "${2#sqlite://}" <<'EOF'
import sqlite3, sys
try:
    print(sqlite3.connect(f"file:{sys.argv[2]}?mode=ro", uri=True).execute(f"select count(*) from {sys.argv[1]}").fetchone()[0])
except sqlite3.Error:
    print("-")
EOF
  fi
}
delta() { [ "$1" = - ] || [ "$2" = - ] && echo - || echo $(($2 - $1)); }

# Counts change for a moment after wrk stops (requests in flight finish): wait until two reads agree.
settled_count() {
  local prev="" cur
  for _ in $(seq 50); do
    cur=$(count "$1" "$2")
    [ "$cur" = "$prev" ] && break
    prev=$cur; sleep 0.2
  done
  echo "$cur"
}

start_server() { # $1 = database url
  PORT=$(free_port)
  env -u PRIVATE_KEY -u GITHUB_TOKEN WEBHOOK_SECRET="$SECRET" DATABASE_URL="$1" HOST=127.0.0.1 PORT="$PORT" \
    WORKERS=0 APP_ID=1 PRIVATE_KEY_PATH="$TMP/app.pem" LOG_LEVEL=warn WEBHOOK_PATH="$WEBHOOK_PATH" \
    GITHUB_API_URL=http://127.0.0.1:9 "$BIN" serve >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; die "serve exited during start"; }
    sleep 0.1
  done
  tail -20 "$TMP/server.log" >&2
  die "serve did not answer GET /healthz within 30 s"
}

mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
judge() { test "$1" "$2" "$3" && echo ok || echo MISSED; } # value, test operator, limit

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=()
run_one() { # $1 = mix, $2 = connections
  local mix=$1 conns=$2 db threads=$THREADS
  [ "$threads" -le "$conns" ] || threads=$conns
  db=${PG_URL:-sqlite://$TMP/$mix-$conns.db}
  start_server "$db"
  sleep 1 # let start-up work (migrations, pools) finish before reading the idle figure
  local idle d0 j0 c0 c1
  idle=$(rss_kb "$SERVER_PID" VmRSS)
  d0=$(count deliveries "$db"); j0=$(count jobs "$db")
  [ "$d0" != - ] || d0=0; [ "$j0" != - ] || j0=0
  c0=$(cpu_ticks "$SERVER_PID")
  local line peak
  line=$(run_wrk "$threads" "$conns" "$DURATION" "$TMP/$mix.lua" "http://127.0.0.1:$PORT$WEBHOOK_PATH")
  peak=$(rss_kb "$SERVER_PID" VmHWM); c1=$(cpu_ticks "$SERVER_PID")
  local d1 j1 req dur st sock ok recorded jobs check
  d1=$(settled_count deliveries "$db"); j1=$(count jobs "$db")
  stop_server
  req=$(field requests "$line"); dur=$(field duration_us "$line"); st=$(field status_errors "$line")
  sock=$(( $(field connect_errors "$line") + $(field read_errors "$line") + $(field write_errors "$line") \
    + $(field timeouts "$line") ))
  ok=$((req - st)); recorded=$(delta "$d0" "$d1"); jobs=$(delta "$j0" "$j1")
  if [ "$recorded" = - ]; then check="no deliveries table"
  elif [ "$recorded" -ge "$ok" ] && [ $((recorded - ok)) -le "$conns" ]; then
    check="ok (+$((recorded - ok)) in flight at stop)"
  else check="MISMATCH"; fi
  [ "$mix" != labeled ] || [ "$jobs" = "$recorded" ] || check+=", jobs != recorded"
  local rate p99 verdict
  rate=$(awk -v r="$ok" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }'); p99=$(field p99_us "$line")
  verdict="idle $(judge "$idle" -le $((20 * 1024)))"
  if [ "$mix" = labeled ] && [ "$conns" = 16 ]; then
    verdict+=", rate $(judge "$rate" -ge 20000), p99 $(judge "$p99" -le 5000)"
  fi
  [ "$conns" != 64 ] || verdict+=", peak $(judge "$peak" -le $((50 * 1024)))"
  ROWS+=("$(printf '%-8s %5s %9s %7s %7s %6s %9s %9s %9s %7s %6s %9s %9s  %s | %s' "$mix" "$conns" \
    "$rate" "$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v d="$dur" \
      'BEGIN { printf "%.0f%%", 100 * t / hz / (d / 1e6) }')" "$(ms "$(field p50_us "$line")")" "$(ms "$p99")" "$(mb "$idle")" "$(mb "$peak")" \
    "$ok" "$st" "$sock" "$recorded" "$jobs" "$check" "$verdict")")
  echo "bench: $mix at $conns connections done" >&2
}

for mix in $MIXES; do
  for conns in $CONNECTIONS; do run_one "$mix" "$conns"; done
done

echo
echo "metagpt-bot webhook intake — $(nproc) CPU(s) shared by server and wrk -t$THREADS, $DURATION per run," \
  "$( [ -n "$PG_URL" ] && echo Postgres || echo "fresh SQLite file per run"), WORKERS=0"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
printf '%-8s %5s %9s %6s %7s %7s %9s %9s %9s %7s %6s %9s %9s  %s\n' mix conns "2xx/s" "cpu" "p50 ms" "p99 ms" \
  "idle RSS" "peak RSS" 2xx non-2xx "sock" recorded jobs "persisted check | target"
printf '%s\n' "${ROWS[@]}"
echo
echo "targets:   >= 20,000 deliveries/s at 16 connections with p99 <= 5 ms; idle RSS <= 20 MB;" \
  "peak RSS <= 50 MB at 64 connections"
echo "reference: Probot ~2,300/s at 16 connections, p99 23 ms, 66 MB idle (230-420 MB peak), persisting" \
  "nothing; a minimal Python server persisting to SQLite ~2,500/s"
