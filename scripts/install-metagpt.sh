#!/usr/bin/env bash
# Installs MetaGPT 0.8.2 into a virtual environment (default .venv-metagpt) with the recipe that works:
# `pip install metagpt==0.8.2` alone fails (it pins lancedb==0.4.0, gone from PyPI), so we install a full
# freeze of a working environment first, then metagpt without dependencies, then the pytest QA needs.
# Prints the interpreter path to use as METAGPT_PYTHON on its last line.
# Usage: scripts/install-metagpt.sh [VENV_DIR]     (needs python3.11 on PATH, or PYTHON=/path/to/python3.11)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$here/.venv-metagpt}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "MetaGPT 0.8.2 needs Python 3.11, found %s" % sys.version.split()[0]'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("metagpt") == "0.8.2"' 2>/dev/null; then
  echo "metagpt 0.8.2 already installed in $venv" >&2
else
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade "pip<25"
  "$venv/bin/python" -m pip install --quiet -r "$here/python/metagpt-0.8.2-constraints.txt"
  "$venv/bin/python" -m pip install --quiet --no-deps metagpt==0.8.2
  "$venv/bin/python" -m pip install --quiet pytest==8.3.5
fi
echo "$venv/bin/python"
