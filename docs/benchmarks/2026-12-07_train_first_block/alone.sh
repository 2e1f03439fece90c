#!/usr/bin/env bash
# Issue 39: training's first block from the images' patch moments (Conv4.first_block with
# second_order: pooled first, then normalised with statistics from conv1's patch moments, plain
# ops whose derivatives of every order are TensorFlow's own), measured alone: the code before
# (BEFORE, a worktree of the commit before) and after (AFTER) taking turns, every other process
# of ours stopped (quiet_sitting.sh), peer episodes, medians of 10, pools (2, 1): Bayesian TAML
# training A and B in float32 and mixed_bfloat16, MAML training A in float32.
# Usage: BEFORE=<dir> AFTER=<dir> [TAML_BIN=<venv>/bin] bash alone.sh [ROUNDS]   (from the repo
#   root; default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_train_first_block
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
bf=:mixed_bfloat16
turns "${1:-2}" "$A:train,$B:train,$A:train$bf,$B:train$bf,$M:train" "$BEFORE" "$AFTER"
