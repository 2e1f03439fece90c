#!/usr/bin/env bash
# Issue 39 item 3 for training's convolutions without their biases: the 500-update Omniglot ->
# MNIST training of Bayesian TAML (docs/benchmarks/before_after_training.sh: one thread per op)
# by the code that leaves the biases out in meta-test only ("with_biases", a worktree of
# 1cfc5f2) and by this checkout ("without_biases"), side by side (one per core); each step-500
# checkpoint meta-tested at the posterior mean on the study's 1,000 episodes per data set, and
# the two paired. The biases' gradients are rounding noise in the one and exactly zero in the
# other, so this reads how far that carries over 500 updates.
# SEED (default 0) seeds both trainings; results go to before_after/ for seed 0 and to
# before_after_seed<SEED>/ otherwise. QUIET=1 (the default) stops every other process of ours
# for the run (quiet_sitting.sh); QUIET=0 runs beside other work (its steps/s are then not
# read). Ran as SEED=0 (quiet, 12:18-12:30 UTC) and SEED=1 QUIET=0 (beside a test run).
# Usage: BEFORE=<worktree> [SEED=1] [QUIET=0] \
#   bash docs/benchmarks/2026-12-07_unbiased_conv/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/unbiased_conv_before_after[_seed<SEED>])
set -euo pipefail
source "$PWD/docs/benchmarks/before_after_training.sh"
before_after_check 2026-12-07_unbiased_conv unbiased_conv with_biases without_biases \
  "biases in training, 1cfc5f2" "no biases read"
