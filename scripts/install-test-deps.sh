#!/usr/bin/env bash
# Installs the system packages the tests need on a fresh Debian machine: a PostgreSQL server for the
# Postgres queue tests. Idempotent; does nothing when everything is there.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
