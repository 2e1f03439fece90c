#!/usr/bin/env bash
# Issue 39 item 3 for training's convolutions without their biases: the 500-update Omniglot ->
# MNIST training of Bayesian TAML (docs/benchmarks/before_after_training.sh: seed 0, one thread
# per op) by the code that leaves the biases out in meta-test only ("with_biases", a worktree of
# 1cfc5f2) and by this checkout ("without_biases"), side by side (one per core), every other
# process of ours stopped; each step-500 checkpoint meta-tested at the posterior mean on the
# study's 1,000 episodes per data set, and the two paired. The biases' gradients are rounding
# noise in the one and exactly zero in the other, so this reads how far that carries over 500
# updates.
# Usage: BEFORE=<worktree> bash docs/benchmarks/2026-12-07_unbiased_conv/before_after.sh
#   (repository root; env: ROOT, default ~/taml_runs/unbiased_conv_before_after)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-07_unbiased_conv/before_after
mkdir -p "$out"
root="${ROOT:-$HOME/taml_runs/unbiased_conv_before_after}"
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$repo/docs/benchmarks/quiet_sitting.sh"
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
train_side_by_side "$before" "$repo" "$root" with_biases without_biases "$out"
"$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" with_biases \
  without_biases "biases in training, 1cfc5f2" "no biases read" \
  2> >(filter >&2) > "$out/paired.md"
cat "$out/paired.md"
