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
# read). Ran as SEED=0 QUIET=0 (21:39-21:55 UTC, beside pytest tests/method) and SEED=1
# QUIET=0 (22:23-22:49, niced beside a CI rehearsal).
# Usage: BEFORE=<worktree> [SEED=1] [QUIET=0] \
#   bash docs/benchmarks/2026-12-07_train_first_block/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/train_first_block_before_after[_seed<SEED>])
set -euo pipefail
source "$PWD/docs/benchmarks/before_after_training.sh"
before_after_check 2026-12-07_train_first_block train_first_block activation_statistics patch_moments \
  "statistics from the activation, 1040ff2" "first block from patch moments"
