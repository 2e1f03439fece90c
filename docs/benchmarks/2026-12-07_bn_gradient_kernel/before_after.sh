#!/usr/bin/env bash
# Issue 39 item 3 for batch norm's backward as the fused gradient kernel (a89fd7b): the
# 500-update Omniglot -> MNIST training of Bayesian TAML (docs/benchmarks/before_after_training.sh:
# seed 0, one thread per op) by the code without the lever ("closed_form", a worktree of
# 6132c0d) and with it ("gradient_kernel", this checkout), side by side (one per core), every
# other process of ours stopped; each step-500 checkpoint meta-tested at the posterior mean on
# the study's 1,000 episodes per data set, and the two paired. The kernel computes the same
# backward in another order, so this reads how far a rounding change carries over 500 updates.
# Usage: BEFORE=<worktree> bash docs/benchmarks/2026-12-07_bn_gradient_kernel/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/bn_gradient_kernel_before_after)
set -euo pipefail
source "$PWD/docs/benchmarks/before_after_training.sh"
before_after_check 2026-12-07_bn_gradient_kernel bn_gradient_kernel closed_form gradient_kernel \
  "closed-form backward, 6132c0d" "gradient kernel, a89fd7b"
