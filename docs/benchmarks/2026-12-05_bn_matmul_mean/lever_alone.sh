#!/usr/bin/env bash
# Issue 39, one lever measured alone: batch norm's per-channel means as one [1, BHW] x [BHW, C]
# matrix product instead of a reduction over (B, H, W) (the profile of 2026-12-05 put Mean at
# 10-13% of a train step's op time; a micro-benchmark timed the product 2.1x faster on the
# largest activations, level on the smallest). The code without it ("reduce": a worktree at
# 6b23c63) and with it ("matmul": this checkout), alternating, two rounds, under the default
# thread pools (2, 1), every other process of ours stopped. Each code is imported from its own
# folder (run from there with PYTHONPATH set; the venv's editable install points here).
# The matmul code is not on main (not kept): apply matmul_runtime_shapes.patch (this sitting's
# code) to a checkout of 6b23c63 and run from there.
# Usage: REDUCE=/path/to/worktree-at-6b23c63 PLAN=A|B bash lever_alone.sh   (repository root)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-05_bn_matmul_mean
reduce=${REDUCE:?set REDUCE to a worktree of 6b23c63}
source "$root/docs/benchmarks/quiet_sitting.sh"
prefix=; [ "${PLAN:?set PLAN to A or B}" = B ] && prefix=B_
alternate 2 "$out/$prefix" "$PLAN" reduce="$reduce" matmul="$root"
