#!/usr/bin/env bash
# Issue 39 item 3 for the two-stage batch-norm means (a5be6b7): the 500-update Omniglot -> MNIST
# training of Bayesian TAML (docs/benchmarks/before_after_training.sh) that
# 2026-12-05_bn_closed_form/before_after.sh ran for the closed form, now with this checkout's
# code ("two_stage"), into the same ROOT, with the same flags
# (seed 0, one thread per op, every other process of ours stopped), its step-500 checkpoint
# meta-tested at the posterior mean on the study's 1,000 episodes per data set and paired with
# the closed-form run there ("closed", 8987f28's code: the reduction over three axes), the code
# just before this lever. The two differ in float rounding only (the same sums in another
# order), so this is another reading of how far a rounding change carries over 500 updates.
# Usage: bash docs/benchmarks/2026-12-05_bn_matmul_mean/before_after.sh   (repository root;
#   env: ROOT, default ~/taml_runs/bn_before_after, which must hold the "closed" run)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-05_bn_matmul_mean/before_after
mkdir -p "$out"
root="${ROOT:-$HOME/taml_runs/bn_before_after}"
[ -f "$root/closed/results/test/results.json" ] || { echo "no closed-form run in $root" >&2; exit 1; }
source "$repo/docs/benchmarks/quiet_sitting.sh"
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
date -Is | tee "$out/started.txt"
train_then_test "$repo" "$root" two_stage "$out"
date -Is | tee "$out/finished.txt"
"$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" closed two_stage \
  "closed form, one reduction, 8987f28" "two-stage, a5be6b7" 2> >(filter >&2) > "$out/paired.md"
cat "$out/paired.md"
