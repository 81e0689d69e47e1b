# shellcheck shell=bash
# Helpers shared by the bench scripts (sourced, not run). Each prints or fails; none judges a figure.

die() { echo "bench: $*" >&2; exit 1; }

# Installs Debian's wrk when it is missing (root only; otherwise says how).
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  echo "bench: wrk not found; installing Debian's wrk package" >&2
  [ "$(id -u)" = 0 ] || die "wrk is missing; install it with: sudo apt-get install -y wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}

# wrk (installed when missing) and the tools the bench scripts call.
require_bench_tools() {
  ensure_wrk
  for tool in python3 openssl curl; do
    command -v "$tool" >/dev/null || die "$tool is required (Debian package: $tool)"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# CPU time (user + system) the process has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# field NAME "BENCH k=v …" → v (the summary line bench/webhooks.lua prints).
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"; }

# run_wrk THREADS CONNS DURATION PAYLOADS_LUA URL → the BENCH summary line (fails when wrk prints none).
run_wrk() {
  local out
  out=$(BENCH_PAYLOADS="$4" BENCH_RUN=$(openssl rand -hex 4) \
    wrk -t"$1" -c"$2" -d"$3" --timeout 5s -s "$BENCH/webhooks.lua" "$5") || die "wrk failed: $out"
  grep '^BENCH ' <<<"$out" || die "wrk printed no summary: $out"
}
