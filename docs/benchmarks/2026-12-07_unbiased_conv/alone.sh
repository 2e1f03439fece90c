#!/usr/bin/env bash
# Issue 39: meta-test's convolutions without their biases (backbone.conv_without_bias, 1cfc5f2)
# measured alone: the code before it (BEFORE, a worktree of 86c15d7) and this checkout take
# turns (the order flipped in even rounds), each run meta-test A and B in float32 and in
# mixed_bfloat16, peer episodes, medians of 10, every other process of ours stopped
# (quiet_sitting.sh), the default thread pools.
# Usage: BEFORE=<worktree> bash alone.sh [ROUNDS]   (from the repo root; ROUNDS default 2)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_unbiased_conv
rounds=${1:-2}
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$A:test,$B:test,$A:test:mixed_bfloat16,$B:test:mixed_bfloat16"
turns "$rounds" "$plan" "$before" "$root"
