#!/usr/bin/env bash
# How long scripts/install-metagpt.sh takes with uv and with its pip fallback, cold (empty caches) and
# warm (caches from the cold run), and how big the venv is. Prints a table; asserts nothing. Needs the
# package index (PyPI or PIP_INDEX_URL / UV_INDEX_URL). Usage: bench/install_metagpt.sh [--warm-only]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
warm_only=false
[ "${1:-}" = "--warm-only" ] && warm_only=true

printf '%-6s %-5s %9s %9s\n' installer cache seconds venv
for installer in uv pip; do
  caches="$work/cache-$installer"
  for phase in cold warm; do
    if [ "$phase" = cold ] && $warm_only; then continue; fi
    venv="$work/venv-$installer-$phase"
    if [ "$phase" = cold ] || $warm_only; then
      env_cache=(UV_CACHE_DIR="$caches/uv" PIP_CACHE_DIR="$caches/pip")
      [ "$phase" = cold ] && rm -rf "$caches"
    fi
    start=$(date +%s.%N)
    env "${env_cache[@]}" METAGPT_INSTALLER="$installer" "$here/scripts/install-metagpt.sh" "$venv" \
      > "$work/log-$installer-$phase" 2>&1 || { cat "$work/log-$installer-$phase"; exit 1; }
    end=$(date +%s.%N)
    "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("metagpt") == "0.8.2"'
    size=$(du -sm "$venv" | cut -f1)
    seconds=$(python3 -c "print(f'{$end - $start:.1f}')")
    printf '%-9s %-5s %9s %7s MB\n' "$installer" "$phase" "$seconds" "$size"
  done
done
