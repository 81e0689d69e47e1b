#!/usr/bin/env bash
# Installs MetaGPT 0.8.2 into a virtual environment (default .venv-metagpt) with the recipe that works:
# `pip install metagpt==0.8.2` alone fails (it pins lancedb==0.4.0, gone from PyPI), so we install a full
# freeze of a working environment first, then metagpt without dependencies, then the pytest QA needs.
# The installer is uv (bench/install_metagpt.sh: 63 s cold instead of pip's 92 s, 38 s warm instead of 66 s), fetched from
# PyPI into its own small venv when it is not on PATH; pip is the fallback when uv cannot be had, or when
# METAGPT_INSTALLER=pip asks for it. Both install the same constraints file.
# Prints the interpreter path to use as METAGPT_PYTHON on its last line.
# Usage: scripts/install-metagpt.sh [VENV_DIR]     (needs python3.11 on PATH, or PYTHON=/path/to/python3.11)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/.venv-metagpt}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
python="$(command -v "$python")"
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "MetaGPT 0.8.2 needs Python 3.11, found %s" % sys.version.split()[0]'
constraints="$here/python/metagpt-0.8.2-constraints.txt"

# uv on PATH, else uv installed from PyPI into <venv>-uv; empty when neither works.
find_uv() {
  if command -v uv >/dev/null; then
    command -v uv
    return
  fi
  local tools="${venv%/}-uv"
  if [ ! -x "$tools/bin/uv" ]; then
    "$python" -m venv "$tools" >&2 && "$tools/bin/python" -m pip install --quiet "uv>=0.5,<1" >&2 || return 0
  fi
  [ -x "$tools/bin/uv" ] && echo "$tools/bin/uv"
}

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("metagpt") == "0.8.2"' 2>/dev/null; then
  echo "metagpt 0.8.2 already installed in $venv" >&2
else
  uv=""
  [ "${METAGPT_INSTALLER:-uv}" = pip ] || uv="$(find_uv)"
  if [ -n "$uv" ]; then
    echo "installing MetaGPT 0.8.2 into $venv with $("$uv" --version)" >&2
    "$uv" venv --quiet --allow-existing --python "$python" "$venv"
    # Byte-compiled as pip does: MetaGPT imports a lot, and the sandbox keeps the venv read-only.
    "$uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" -r "$constraints"
    "$uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" --no-deps metagpt==0.8.2
    "$uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" pytest==8.3.5 pip
  else
    echo "installing MetaGPT 0.8.2 into $venv with pip (uv unavailable or METAGPT_INSTALLER=pip)" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "pip<25"
    "$venv/bin/python" -m pip install --quiet -r "$constraints"
    "$venv/bin/python" -m pip install --quiet --no-deps metagpt==0.8.2
    "$venv/bin/python" -m pip install --quiet pytest==8.3.5
  fi
fi
echo "$venv/bin/python"
