#!/usr/bin/env bash
# Issue 39 item 3 for meta-test's bfloat16 blocks: a trained Bayesian TAML (the published
# pretrained/omniglot_mnist/bayesian_taml, the seed study's step 10,000; its weights put into
# the training code's learner by metatest_pretrained.py) meta-tested in mixed_bfloat16 by the
# code before the lever (BEFORE, a worktree) and by this checkout, side by side (one thread
# each), at the posterior mean on its card's 1,000 + 1,000 episodes, unpadded (so the fused
# path runs); then by this checkout in float32, for bfloat16's own distance from float32.
# Results in $ROOT/{before_bf16,after_bf16,after_float32}; the table by metatest_table.py.
# Usage: BEFORE=<worktree> [MODEL=<SavedModel>] [ROOT=<out>] bash metatest_check.sh
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin=${TAML_BIN:-$repo/.venv/bin}
before=${BEFORE:?set BEFORE to a worktree of the code without the lever}
model=${MODEL:-$repo/pretrained/omniglot_mnist/bayesian_taml}
root=${ROOT:-$HOME/taml_runs/bf16_blocks_check}
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
# The worktree is not beside ../shared: both codes read the same data.
export TAML_DATA_DIR=${TAML_DATA_DIR:-$(cd "$repo/../shared/data" && pwd)}
evaluate() (  # evaluate CODE NAME PRECISION
  cd "$1" && PYTHONPATH=$1 "$bin/python" "$here/metatest_pretrained.py" "$model" "$3" \
    "$root/$2" > "$root/$2.log" 2>&1
)
date -Is | tee "$root/started.txt"
evaluate "$before" before_bf16 mixed_bfloat16 & first=$!
evaluate "$repo" after_bf16 mixed_bfloat16 & second=$!
wait "$first" "$second"
date -Is
evaluate "$repo" after_float32 float32
date -Is | tee "$root/finished.txt"
