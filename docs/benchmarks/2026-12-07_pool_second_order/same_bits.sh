#!/usr/bin/env bash
# Issue 39 item 3 for max pooling's second order as average pooling (kernel_max_pool_2x2): the
# 500-update Omniglot -> MNIST training of Bayesian TAML (docs/benchmarks/before_after_training.sh:
# the short-budget study's flags, seed 0, one thread per op) by the code without the lever
# ("max_pool_grad_grad", a worktree of c5911bb) and with it ("avg_pool", this checkout), side by
# side (one per core), every other process of ours stopped; then their checkpoints at 250 and 500
# compared variable by variable (docs/reproduction/determinism/compare_checkpoints.py). The lever
# computes every value to the bit (backbone_test.KernelMaxPoolTest), and training is
# deterministic across processes (docs/reproduction/determinism), so the checkpoints must agree
# to the bit: no meta-test is needed to read the change.
# Usage: BEFORE=<worktree> bash docs/benchmarks/2026-12-07_pool_second_order/same_bits.sh
#   (repository root; env: ROOT, default ~/taml_runs/pool_second_order_same_bits)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-07_pool_second_order/same_bits
mkdir -p "$out"
root="${ROOT:-$HOME/taml_runs/pool_second_order_same_bits}"
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
source "$repo/docs/benchmarks/quiet_sitting.sh"
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
train() (
  cd "$1" && PYTHONPATH=$1 "$bin/taml-train" "${before_after_flags[@]}" --savedir="$root/$2" \
    > "$out/$2_train.log" 2>&1
  grep -h "step .*/500 " "$out/$2_train.log" | sed 's/.*\] //' > "$out/$2_losses.txt"
)
date -Is | tee "$out/started.txt"
train "$before" max_pool_grad_grad & first=$!
train "$repo" avg_pool & second=$!
wait "$first" "$second"
date -Is | tee "$out/finished.txt"
for step in 250 500; do
  echo "ckpt-$step: $("$bin/python" "$repo/docs/reproduction/determinism/compare_checkpoints.py" \
    "$root/max_pool_grad_grad/checkpoints/ckpt-$step" "$root/avg_pool/checkpoints/ckpt-$step" \
    2> >(filter >&2) | tr '\n' ' ')"
done | tee "$out/compared.txt"
# The logged losses without their speed columns (steps/s, time left).
losses() { sed 's/  [0-9.]* steps\/s.*//' "$out/$1_losses.txt"; }
if cmp -s <(losses max_pool_grad_grad) <(losses avg_pool); then
  echo "logged losses (every 10 updates): identical"
else
  echo "logged losses: differ"
fi | tee -a "$out/compared.txt"
