#!/usr/bin/env bash
# Issue 39, the batch-norm closed form (b2d7951) measured alone under the default thread pools
# (2, 1): the code without it (this checkout at 1e1dcc4, "plain") and with it (a git worktree
# of the same commit with b2d7951's masked_batch_norm.py, "closed"), alternating, two rounds,
# every other process of ours stopped. The closed-form code is imported from its worktree by
# running from there with PYTHONPATH set (the venv's editable install points at this
# checkout); the ops column (42,937 against 29,973 per Bayesian TAML train step) shows which ran.
# Ran on 2026-12-05 as two sittings: PLAN=A (07:56-08:10 UTC; files plain_r*, closed_r*) and
# PLAN=B (08:11-08:33 UTC; files B_plain_r*, B_closed_r*).
# Usage: CLOSED=/path/to/worktree PLAN=A|B bash lever_alone.sh   (from the repository root)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-05_bn_closed_form
closed=${CLOSED:?set CLOSED to a worktree with the closed-form masked_batch_norm.py}
source "$root/docs/benchmarks/quiet_sitting.sh"
prefix=; [ "${PLAN:?set PLAN to A or B}" = B ] && prefix=B_
alternate 2 "$out/$prefix" "$PLAN" plain="$root" closed="$closed"
