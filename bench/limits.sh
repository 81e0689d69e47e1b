#!/usr/bin/env bash
# Runaway runs beside the webhook intake: PRINTS how `metagpt-bot serve` answers signed deliveries (wrk:
# rate, p50/p99/max latency, errors) while hostile runs (a fork bomb, a memory hog, an endless loop: the
# stand-in `tests/fixtures/interpreters/hostile_python` as MetaGPT's interpreter) run back to back on the
# same machine, with the run limits and without them, beside a quiet baseline; and how each hostile run
# ended. A printed figure, not a test: it fails only when it cannot measure.
#
# The runs are `metagpt-bot run` processes of the same binary (a local run is the same `run::execute`
# the App's workers call), so they compete with `serve` for the machine's CPUs, memory and pids as an
# App run would. The stand-ins stop by themselves at 400 processes and 1 GiB, and the endless loop at
# `--timeout`, so the unlimited phase is bounded too.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/limits.sh [options]
  -d, --duration D      wrk duration per phase (default 20s; wrk syntax)
  -c, --connections N   wrk connections (default 4; one wrk thread)
      --phases "P…"     quiet, limited, unlimited (default all three)
      --rounds N        run the phases N times, interleaved (default 1)
      --memory-mb N     AGENT_MEMORY_MB of the limited phase (default 256)
      --processes N     AGENT_MAX_PROCESSES of the limited phase (default 64)
      --cpu-secs N      AGENT_CPU_SECS of the limited phase (default 5)
      --bin PATH        use this binary (default target/release/metagpt-bot, built when missing)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
FIXTURES="$ROOT/tests/fixtures/webhooks"
DURATION=20s CONNECTIONS=4 PHASES="quiet limited unlimited" ROUNDS=1 MEMORY_MB=256 PROCESSES=64 CPU_SECS=5
BIN=""
WEBHOOK_PATH=/api/github/webhooks
while [ $# -gt 0 ]; do
  case "$1" in
    -d|--duration) DURATION=$2; shift 2 ;;
    -c|--connections) CONNECTIONS=$2; shift 2 ;;
    --phases) PHASES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --memory-mb) MEMORY_MB=$2; shift 2 ;;
    --processes) PROCESSES=$2; shift 2 ;;
    --cpu-secs) CPU_SECS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
require_bench_tools
command -v git >/dev/null || die "git is required"
if [ -z "$BIN" ]; then
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/metagpt-bot
  if [ ! -x "$BIN" ]; then
    echo "bench: cargo build --release (may take a few minutes on a cold cache)" >&2
    (cd "$ROOT" && cargo build --release --quiet --bin metagpt-bot)
  fi
fi
[ -x "$BIN" ] || die "binary not found: $BIN (build it, or pass --bin PATH)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/metagpt-limits.XXXXXX")
SERVER_PID="" HOSTILE_PID=""
cleanup() {
  [ -z "$HOSTILE_PID" ] || { touch "$TMP/stop"; wait "$HOSTILE_PID" 2>/dev/null || true; }
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server: intake only (WORKERS=0), fresh SQLite, nothing leaves the machine.
SECRET=$(openssl rand -hex 20)
openssl genrsa -out "$TMP/app.pem" 2048 2>/dev/null
python3 "$BENCH/payloads.py" star 50 "$SECRET" "$FIXTURES" "$TMP/star.lua"
PORT=$(free_port)
env -i PATH="$PATH" WEBHOOK_SECRET="$SECRET" DATABASE_URL="sqlite://$TMP/bot.db" HOST=127.0.0.1 PORT="$PORT" \
  WORKERS=0 APP_ID=1 PRIVATE_KEY_PATH="$TMP/app.pem" LOG_LEVEL=warn GITHUB_API_URL=http://127.0.0.1:9 \
  "$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; die "serve exited during start"; }
  sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" || die "serve did not answer GET /healthz"

# The hostile runs' repository and interpreter.
REPO="$TMP/shop"
mkdir -p "$REPO/shop" "$TMP/venv/bin" "$TMP/home"
echo "print('shop')" >"$REPO/shop/app.py"
echo "__pycache__/" >"$REPO/.gitignore"
git -C "$REPO" init -q && git -C "$REPO" add -A
git -C "$REPO" -c user.name=bench -c user.email=bench@example.com commit -qm seed
cp "$ROOT/tests/fixtures/interpreters/hostile_python" "$TMP/venv/bin/python"
chmod +x "$TMP/venv/bin/python"

# hostile_loop MEMORY PROCESSES CPU LOG: runs the three runaways in turn until $TMP/stop exists; one line
# per run.
hostile_loop() {
  local n=0 kind start code first
  while :; do
    for kind in FORK_BOMB MEMORY_HOG ENDLESS_LOOP; do
      [ ! -e "$TMP/stop" ] || return 0
      # A failed run leaves the work tree as the agent left it: start each from a clean tree.
      git -C "$REPO" reset -q --hard && git -C "$REPO" clean -qfdx
      n=$((n + 1)); start=$(date +%s.%N)
      code=0
      env -i PATH="$PATH" HOME="$TMP/home" METAGPT_PYTHON="$TMP/venv/bin/python" \
        LLM_BASE_URL=http://127.0.0.1:9/v1 LLM_API_KEY=bench LLM_MODEL=gpt-4o-mini \
        AGENT_MEMORY_MB="$1" AGENT_MAX_PROCESSES="$2" AGENT_CPU_SECS="$3" \
        "$BIN" run --repo "$REPO" --requirement "$kind run $n" --timeout 15 >"$TMP/run.out" 2>&1 || code=$?
      sed -i 's/\x1b\[[0-9;]*m//g' "$TMP/run.out"
      first=$(grep -m1 -oE "the run's code and tests [^(]*|ran out of time after [0-9]+s|no (memory|process) limit: [0-9]+ (children forked|GiB allocated)|exited \([^)]*\)" "$TMP/run.out" || true)
      printf '%-12s %6.1f s  exit %-3s %s\n' "$kind" "$(echo "$(date +%s.%N) - $start" | bc)" "$code" \
        "${first:-$(tail -1 "$TMP/run.out")}" >>"$4"
    done
  done
}

ROWS=()
phase() { # $1 = name, $2 = round
  local log="$TMP/$1.runs.$2" line ok req st sock c0 c1
  : >"$log"
  rm -f "$TMP/stop"
  case "$1" in
    limited) hostile_loop "$MEMORY_MB" "$PROCESSES" "$CPU_SECS" "$log" & HOSTILE_PID=$! ;;
    unlimited) hostile_loop 0 0 0 "$log" & HOSTILE_PID=$! ;;
  esac
  c0=$(cpu_ticks "$SERVER_PID")
  line=$(run_wrk 1 "$CONNECTIONS" "$DURATION" "$TMP/star.lua" "http://127.0.0.1:$PORT$WEBHOOK_PATH")
  c1=$(cpu_ticks "$SERVER_PID")
  if [ -n "$HOSTILE_PID" ]; then
    # Let the run under way finish (each ends within --timeout), so no stray process skews the next phase.
    touch "$TMP/stop"
    wait "$HOSTILE_PID" 2>/dev/null || true
    HOSTILE_PID=""
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "serve died during the $1 phase: $(tail -5 "$TMP/server.log")"
  ! grep -q ' exit 2 ' "$log" || die "a hostile run was refused, nothing measured: $(grep -m1 ' exit 2 ' "$log")"
  req=$(field requests "$line"); st=$(field status_errors "$line")
  sock=$(( $(field connect_errors "$line") + $(field read_errors "$line") + $(field write_errors "$line") \
    + $(field timeouts "$line") ))
  ok=$((req - st))
  ROWS+=("$(printf '%-12s %8s %6s %8s %8s %9s %7s %6s %5s' "$1 #$2" \
    "$(awk -v r="$ok" -v d="$(field duration_us "$line")" 'BEGIN { printf "%.0f", r / (d / 1e6) }')" \
    "$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v d="$(field duration_us "$line")" \
      'BEGIN { printf "%.0f%%", 100 * t / hz / (d / 1e6) }')" \
    "$(awk -v u="$(field p50_us "$line")" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$(awk -v u="$(field p99_us "$line")" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$(awk -v u="$(field max_us "$line")" 'BEGIN { printf "%.1f", u / 1000 }')" \
    "$st" "$sock" "$(wc -l <"$log")")")
  cat "$log" >>"$TMP/$1.runs"
  echo "bench: $1 phase (round $2) done" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
  for p in $PHASES; do phase "$p" "$r"; done
done

echo
echo "metagpt-bot serve under runaway runs — $(nproc) CPU(s) shared by serve, wrk -t1 -c$CONNECTIONS and the" \
  "runs; $DURATION per phase; the star mix (record only), WORKERS=0; $BIN"
echo "limited phase: $( { env -i PATH="$PATH" AGENT_MEMORY_MB="$MEMORY_MB" AGENT_MAX_PROCESSES="$PROCESSES" \
  AGENT_CPU_SECS="$CPU_SECS" "$BIN" doctor 2>/dev/null || true; } | grep -o 'run limits: .*')"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %8s %6s %8s %8s %9s %7s %6s %5s\n' phase "2xx/s" cpu "p50 ms" "p99 ms" "max ms" non-2xx sock runs
printf '%s\n' "${ROWS[@]}"
for p in $PHASES; do
  [ -s "$TMP/$p.runs" ] || continue
  echo
  echo "$p: how each run ended (kind, wall time, exit code, what it said)"
  cat "$TMP/$p.runs"
done
