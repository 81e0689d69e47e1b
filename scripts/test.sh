#!/usr/bin/env bash
# The test command (README): starts a throwaway PostgreSQL on 127.0.0.1 for the Postgres queue tests
# (unless TEST_DATABASE_URL is already set), runs every test with cargo-nextest, and stops the server.
# Extra arguments go to `cargo nextest run` (e.g. a filter: scripts/test.sh queue_).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  started="$(scripts/test-postgres.sh start)"
  export "${started##*$'\n'}"
  trap 'scripts/test-postgres.sh stop' EXIT
fi
cargo nextest run --all-targets --no-fail-fast "$@"
