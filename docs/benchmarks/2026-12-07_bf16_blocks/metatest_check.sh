#!/usr/bin/env bash
# Issue 39 item 3 for a meta-test lever: a trained Bayesian TAML (the published
# pretrained/omniglot_mnist/bayesian_taml, the seed study's step 10,000; its weights put into
# the training code's learner by metatest_pretrained.py) meta-tested by the code before the
# lever (BEFORE, a worktree) and by this checkout, side by side (one thread each), at the
# posterior mean on its card's 1,000 + 1,000 episodes, unpadded (so the fused path runs).
# PRECISION=mixed_bfloat16 (default; meta-test's bfloat16 blocks, 86c15d7): both codes in
# mixed_bfloat16, then this checkout in float32, for bfloat16's own distance from float32;
# results in $ROOT/{before_bf16,after_bf16,after_float32}.
# PRECISION=float32 (meta-test's first block from its images' patch moments: run by
# ../2026-12-07_first_block/metatest_check.sh): both codes in float32; results in
# $ROOT/{before_float32,after_float32}.
# TABLE=<file> writes metatest_table.py's before/after table and paired difference there.
# Usage: BEFORE=<worktree> [PRECISION=float32] [MODEL=<SavedModel>] [ROOT=<out>] [TABLE=<md>]
#   bash metatest_check.sh
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin=${TAML_BIN:-$repo/.venv/bin}
before=${BEFORE:?set BEFORE to a worktree of the code without the lever}
model=${MODEL:-$repo/pretrained/omniglot_mnist/bayesian_taml}
root=${ROOT:-$HOME/taml_runs/bf16_blocks_check}
precision=${PRECISION:-mixed_bfloat16}
case "$precision" in
  mixed_bfloat16) tag=bf16 ;;
  float32) tag=float32 ;;
  *) echo "metatest_check.sh: PRECISION is mixed_bfloat16 or float32, not $precision" >&2
     exit 2 ;;
esac
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
# The worktree is not beside ../shared: both codes read the same data.
export TAML_DATA_DIR=${TAML_DATA_DIR:-$(cd "$repo/../shared/data" && pwd)}
evaluate() (  # evaluate CODE NAME PRECISION
  cd "$1" && PYTHONPATH=$1 "$bin/python" "$here/metatest_pretrained.py" "$model" "$3" \
    "$root/$2" > "$root/$2.log" 2>&1
)
date -Is | tee "$root/started.txt"
evaluate "$before" "before_$tag" "$precision" & first=$!
evaluate "$repo" "after_$tag" "$precision" & second=$!
wait "$first" "$second"
if [ "$precision" = mixed_bfloat16 ]; then
  date -Is
  evaluate "$repo" after_float32 float32
fi
date -Is | tee "$root/finished.txt"
if [ -n "${TABLE:-}" ]; then
  (cd "$repo" && "$bin/python" "$here/metatest_table.py" "$root" "before_$tag" "after_$tag") \
    2>/dev/null | tee "$TABLE"
fi
