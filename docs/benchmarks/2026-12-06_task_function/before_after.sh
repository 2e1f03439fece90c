#!/usr/bin/env bash
# Issue 39 item 3 for the per-task traced gradient (66f3d5b): the 500-update Omniglot -> MNIST
# training of Bayesian TAML (docs/benchmarks/before_after_training.sh: seed 0, one thread per
# op) by the code without the lever ("unrolled", a worktree of BEFORE's commit) and with it
# ("task_function", this checkout), side by side (one per core), every other process of ours
# stopped; each step-500 checkpoint meta-tested at the posterior mean on the study's 1,000
# episodes per data set, and the two paired. The two codes compute the same gradient in
# another order (per-task gradients summed, against the gradient of the summed losses), so
# this is a reading of how far a rounding change carries over 500 updates.
# Usage: BEFORE=<worktree> bash docs/benchmarks/2026-12-06_task_function/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/task_function_before_after)
set -euo pipefail
source "$PWD/docs/benchmarks/before_after_training.sh"
# The first run (2026-12-06 06:24) hung after both trainings had finished: it ended in a bare
# `wait`, which waited for quiet_sitting.sh's freezer too; its table was made by the last
# command below, by hand. train_side_by_side waits for the two trainings only.
before_after_check 2026-12-06_task_function task_function unrolled task_function \
  "unrolled tasks, 17c0373" "per-task function, 66f3d5b"
