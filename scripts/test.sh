#!/usr/bin/env bash
# The test command (README): installs what the tests need (PostgreSQL server binaries; MetaGPT 0.8.2 in
# .venv-metagpt, a no-op when present), starts a throwaway PostgreSQL on 127.0.0.1 for the Postgres queue
# tests (unless TEST_DATABASE_URL is already set), runs every test with cargo-nextest, stops the server.
# Extra arguments go to `cargo nextest run` (e.g. a filter: scripts/test.sh queue::).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
METAGPT_PYTHON="$(scripts/install-metagpt.sh | tail -n 1)"
export METAGPT_PYTHON
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  eval "$(scripts/test-postgres.sh start)"
  trap 'scripts/test-postgres.sh stop' EXIT
fi
cargo nextest run --all-targets --no-fail-fast "$@"
