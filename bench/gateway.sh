#!/usr/bin/env bash
# LLM gateway latency benchmark: PRINTS the latency the gateway adds to a chat completion call (p50/p99 of
# calls through the gateway minus p50/p99 of direct calls to the same local upstream), non-streaming and
# streaming, at concurrency 1 and 8. A printed figure, not a test: it fails only when it cannot measure.
# Everything runs in one process on 127.0.0.1 (examples/gateway_latency.rs).
#
# usage: bench/gateway.sh [--calls N] [--concurrency "1 8"]     (default 2,000 calls per cell)
# CARGO_TARGET_DIR is respected.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run --quiet --release --example gateway_latency -- "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
