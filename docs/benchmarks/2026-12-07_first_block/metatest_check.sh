#!/usr/bin/env bash
# Issue 39 item 3 for meta-test's first block from its images' patch moments (Conv4.first_block):
# a trained Bayesian TAML (the published pretrained/omniglot_mnist/bayesian_taml; its weights
# put into the training code's learner by ../2026-12-07_bf16_blocks/metatest_pretrained.py)
# meta-tested in float32 by the code before the lever (BEFORE, a worktree of ebe5478) and by
# this checkout, side by side (one thread each), at the posterior mean on its card's 1,000 +
# 1,000 episodes, unpadded (so the fused path runs); the table and the paired difference by
# ../2026-12-07_bf16_blocks/metatest_table.py, into metatest_check.md. Ran 16:26 UTC beside a
# CI rehearsal (its times are not read).
# Usage: BEFORE=<worktree> [MODEL=<SavedModel>] [ROOT=<out>] bash metatest_check.sh
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
tools="$here/../2026-12-07_bf16_blocks"
bin=${TAML_BIN:-$repo/.venv/bin}
before=${BEFORE:?set BEFORE to a worktree of the code without the lever}
model=${MODEL:-$repo/pretrained/omniglot_mnist/bayesian_taml}
root=${ROOT:-$HOME/taml_runs/first_block_check}
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
export TAML_DATA_DIR=${TAML_DATA_DIR:-$(cd "$repo/../shared/data" && pwd)}
evaluate() (  # evaluate CODE NAME
  cd "$1" && PYTHONPATH=$1 "$bin/python" "$tools/metatest_pretrained.py" "$model" float32 \
    "$root/$2" > "$root/$2.log" 2>&1
)
date -Is | tee "$root/started.txt"
evaluate "$before" before_float32 & first=$!
evaluate "$repo" after_float32 & second=$!
wait "$first" "$second"
date -Is | tee "$root/finished.txt"
(cd "$repo" && "$bin/python" "$tools/metatest_table.py" "$root" before_float32 after_float32) \
  2>/dev/null | tee "$here/metatest_check.md"
