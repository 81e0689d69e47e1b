#!/usr/bin/env bash
# The bot's own overhead per run (clone, branch, write, commit, push; no agent) on a generated repository
# of about 20,000 files and 100 MB served over git's smart HTTP on 127.0.0.1, beside the git command line
# doing the same (`git clone --depth 1` + commit + push). Target: the bot at most 1.5x git.
#
#   bench/run.sh [runs]          (default 5; FILES=20000 MB=100 BENCH_DIR=/tmp/metagpt-bot-bench-run)
#
# The repository is generated once (deterministic, a few commits of history) and kept in BENCH_DIR;
# delete that directory to regenerate. Nothing leaves 127.0.0.1. Run it on an idle machine (`uptime`).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
files=${FILES:-20000}
mb=${MB:-100}
work=${BENCH_DIR:-/tmp/metagpt-bot-bench-run}
served="$work/served"
bare="$served/bench.git"
stamp="$work/generated-$files-$mb"

if [ ! -e "$stamp" ]; then
    rm -rf "$work"
    mkdir -p "$work/src/bench" "$served"
    echo "generating $files files, about $mb MB, in $work/src ..." >&2
    python3 - "$work/src" "$files" "$mb" <<'PY'
import random, sys
from pathlib import Path
root, files, mb = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261122)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 12))) for _ in range(5000)]
mean = mb * 1_000_000 // files
for i in range(files):
    d = root / "bench" / f"pkg{i % 200:03d}"
    d.mkdir(parents=True, exist_ok=True)
    size = rng.randint(mean // 2, mean * 3 // 2)
    lines, n = [], 0
    while n < size:
        line = "    " + " = ".join(rng.choices(words, k=rng.randint(2, 8))) + "\n"
        lines.append(line)
        n += len(line)
    (d / f"mod{i:05d}.py").write_text("".join(lines))
(root / ".gitignore").write_text("__pycache__/\n")
PY
    (
        cd "$work/src"
        git init --quiet --initial-branch=main
        git add -A
        git -c user.name=bench -c user.email=bench@example.com commit --quiet -m "generated tree"
        # A little history, so that a full clone fetches more than a shallow one.
        for k in 1 2 3; do
            python3 - "$k" <<'PY'
import sys
from pathlib import Path
k = int(sys.argv[1])
for path in sorted(Path("bench").glob("pkg00*/mod*.py"))[k::7]:
    path.write_text(path.read_text() + f"    history = {k}\n")
PY
            git -c user.name=bench -c user.email=bench@example.com commit --quiet -am "history $k"
        done
    )
    git clone --quiet --bare "$work/src" "$bare"
    git -C "$bare" config http.receivepack true
    git -C "$bare" repack -adq
    touch "$stamp"
fi

# Forget the branches earlier benches pushed, so every clone fetches the same refs.
git -C "$bare" for-each-ref --format='%(refname)' refs/heads | { grep -vx refs/heads/main || true; } |
    while read -r ref; do git -C "$bare" update-ref -d "$ref"; done

echo "repository: $(git -C "$work/src" ls-files | wc -l) files, $(du -sm --apparent-size --exclude=.git "$work/src" | cut -f1) MB checked out, pack $(du -sm "$bare/objects/pack" | cut -f1) MB" >&2
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(git --version)" >&2
cargo build --quiet --release --example run_overhead
"${CARGO_TARGET_DIR:-target}/release/examples/run_overhead" "$served" bench.git "$runs"
