#!/usr/bin/env bash
# Issue 39 item 3 for the batch-norm closed form (8987f28): a 500-update Omniglot -> MNIST
# training of Bayesian TAML with the code before it ("plain": a worktree at 1e1dcc4, batch norm
# from plain ops) and after it ("closed": this checkout), the short-budget study's flags, seed 0,
# one thread per op, the two side by side on the 2 cores with every other process of ours
# stopped; then each step-500 checkpoint meta-tested at the posterior mean on the study's fixed
# 1,000 episodes per data set, and the two paired on those episodes (taml-compare): the training
# of docs/benchmarks/before_after_training.sh, the table of docs/benchmarks/before_after_table.py.
# The two codes differ only in float rounding (the closed form's float64 test agrees with
# autodiff of the plain ops), so this measures how far a rounding change carries over 500
# updates, to set beside the spread docs/performance.md quotes for one (--sequential_tasks).
# Usage: PLAIN=/path/to/worktree-at-1e1dcc4 bash before_after.sh   (from the repository root;
#   env: ROOT, default ~/taml_runs/bn_before_after; TAML_DATA_DIR, default /work/shared/data)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-05_bn_closed_form/before_after
mkdir -p "$out"
plain=${PLAIN:?set PLAIN to a worktree of 1e1dcc4}
root="${ROOT:-$HOME/taml_runs/bn_before_after}"
source "$repo/docs/benchmarks/quiet_sitting.sh"
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
train_side_by_side "$plain" "$repo" "$root" plain closed "$out"
"$bin/taml-compare" --runs="$root" --results=results/test --output="$out/compare.md" | filter
"$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" plain closed \
  "plain, 1e1dcc4" "closed form, 8987f28" 2>&1 | filter > "$out/paired.md"
