#!/usr/bin/env bash
# Issue 39, training's first block: the calibration the 2026-12-07 check asked for. The code
# before the patch-moments lever (1b60a52, = 1040ff2's library) with one change only: the
# first block's batch norm in float64 on all-real rows of a differentiated pass
# (float64_first_block.patch; same order: normalise, then pool), trained with the 500-update
# check's flags (before_after_training.sh) for seeds SEEDS into the same run folders as the
# lever's check (~/taml_runs/train_first_block_before_after[_seed<S>]/float64_first_block), two
# at a time (one per core), then meta-tested on the study's 1,000 + 1,000 episodes.
# Usage (repository root; CODE: a worktree of 1b60a52 with the patch applied):
#   CODE=/tmp/fb/f64 SEEDS="0 1 2 3" bash docs/benchmarks/2026-12-08_first_block_precision/calibrate.sh
set -euo pipefail
repo=$PWD
source "$repo/docs/benchmarks/before_after_training.sh"
bin=${TAML_BIN:-$repo/.venv/bin}
out=$repo/docs/benchmarks/2026-12-08_first_block_precision/runs
mkdir -p "$out"
lscpu > "$out/lscpu.txt"
one() (
  local seed=$1 suffix
  suffix=$([ "$seed" = 0 ] && echo "" || echo "_seed$seed")
  before_after_flags+=(--seed="$seed")
  mkdir -p "$out/seed$seed"
  train_then_test "${CODE:?}" "$HOME/taml_runs/train_first_block_before_after$suffix" \
    float64_first_block "$out/seed$seed"
)
set -- ${SEEDS:-0 1 2 3}
while [ $# -gt 0 ]; do
  date -Is
  one "$1" & first=$!
  [ $# -gt 1 ] && { one "$2" & second=$!; } || second=
  wait $first ${second:+$second}
  shift; [ $# -gt 0 ] && shift
done
date -Is
