#!/usr/bin/env bash
# Issue 39, the batch-norm mean lever, second sitting (evening of 2026-12-05): three codes of
# masked_batch_norm.py's per-channel means, each measured alone against the same base:
#   reduce     the code at 6b23c63 (one reduction over B, H, W);
#   matmul     [1, BHW] x [BHW, C] with the row count and channel count static where the shapes
#              are (lever_alone.sh's first version built both at run time: +9,700 traced ops);
#   two_stage  a reduction over (H, W), then over the rows (the micro-benchmark's middle).
# Alternating, plan A twice and plan B once, default thread pools (2, 1), every other process of
# ours stopped. Each code runs from its own folder with PYTHONPATH set to it.
# The two-stage code was kept (main since a5be6b7); the matmul code was not. To rerun the
# sitting as measured: the matmul checkout is 6b23c63 with matmul.patch, the two-stage worktree
# 6b23c63 with two_stage.patch (git apply).
# Usage: REDUCE=<worktree at 6b23c63> TWO_STAGE=<worktree with the two-stage file> \
#        bash variants.sh   (from the repository root, whose checkout holds the matmul code)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-05_bn_matmul_mean
source "$root/docs/benchmarks/quiet_sitting.sh"
codes=(reduce="${REDUCE:?}" matmul="$root" two_stage="${TWO_STAGE:?}")
alternate 2 "$out/evening_A_" A "${codes[@]}"
alternate 1 "$out/evening_B_" B "${codes[@]}"
