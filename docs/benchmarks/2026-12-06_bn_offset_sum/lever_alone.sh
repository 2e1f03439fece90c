#!/usr/bin/env bash
# Issue 39, one lever measured alone: the batch norm's last one-stage reductions over (B, H, W).
# The closed-form backward took the offset's gradient as reduce_sum(dy) over three axes, a pass
# over dy of its own beside mean(dy)'s, and the second-order pass's d / d sigma^-1 as another
# three-axis sum. With the lever ("shared"), the offset's gradient and mean(dy) come from one
# sum of dy over (H, W), and every per-channel sum runs in the two stages that a5be6b7 gave the
# means (offset_sum.patch against a11cdc9). Against the code without it ("before": a worktree
# of a11cdc9): alternating, plan A twice then plan B once, default thread pools (2, 1), every
# other process of ours stopped; each code runs from its own folder with PYTHONPATH set to it.
# Usage: BEFORE=<worktree at a11cdc9> bash lever_alone.sh   (from the repository root, whose
#   checkout holds the lever: a11cdc9 with offset_sum.patch applied)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-06_bn_offset_sum
source "$root/docs/benchmarks/quiet_sitting.sh"
codes=(before="${BEFORE:?set BEFORE to a worktree of a11cdc9}" shared="$root")
alternate 2 "$out/A_" A "${codes[@]}"
alternate 1 "$out/B_" B "${codes[@]}"
