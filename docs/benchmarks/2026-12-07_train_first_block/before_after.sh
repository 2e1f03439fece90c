#!/usr/bin/env bash
# Issue 39 item 3 for training's first block from the images' patch moments: the 500-update
# Omniglot -> MNIST training of Bayesian TAML (docs/benchmarks/before_after_training.sh: one
# thread per op) by the code before ("activation_statistics", a worktree of the commit before)
# and by this checkout ("patch_moments"), side by side (one per core); each step-500 checkpoint
# meta-tested at the posterior mean on the study's 1,000 episodes per data set, and the two
# paired. The two compute the same meta-gradient to float32 rounding (backbone_test.
# FirstBlockTest), so this reads how far that rounding carries over 500 updates.
# SEED (default 0) seeds both trainings; results go to before_after/ for seed 0 and to
# before_after_seed<SEED>/ otherwise. QUIET=1 (the default) stops every other process of ours
# for the run (quiet_sitting.sh); QUIET=0 runs beside other work (its steps/s are then not
# read). Ran as SEED=0 QUIET=0 (21:39-21:55 UTC, beside pytest tests/method).
# Usage: BEFORE=<worktree> [SEED=1] [QUIET=0] \
#   bash docs/benchmarks/2026-12-07_train_first_block/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/train_first_block_before_after[_seed<SEED>])
set -euo pipefail
repo=$PWD
seed=${SEED:-0}
suffix=$([ "$seed" = 0 ] && echo "" || echo "_seed$seed")
out=$repo/docs/benchmarks/2026-12-07_train_first_block/before_after$suffix
mkdir -p "$out"
root="${ROOT:-$HOME/taml_runs/train_first_block_before_after$suffix}"
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
if [ "${QUIET:-1}" = 1 ]; then
  source "$repo/docs/benchmarks/quiet_sitting.sh"
else
  filter() { cat > /dev/null; }
  lscpu > "$out/lscpu.txt"
fi
bin=${TAML_BIN:-$repo/.venv/bin}
source "$repo/docs/benchmarks/before_after_training.sh"
before_after_flags+=(--seed="$seed")
train_side_by_side "$before" "$repo" "$root" activation_statistics patch_moments "$out"
"$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" activation_statistics \
  patch_moments "statistics from the activation, 1040ff2" "first block from patch moments" \
  2> >(filter >&2) > "$out/paired.md"
cat "$out/paired.md"
