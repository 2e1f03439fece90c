#!/usr/bin/env bash
# Issue 39 item 3 for the batch-norm closed form (8987f28): a 500-update Omniglot -> MNIST
# training of Bayesian TAML with the code before it ("plain": a worktree at 1e1dcc4, batch norm
# from plain ops) and after it ("closed": this checkout), the short-budget study's flags, seed 0,
# one thread per op, the two side by side on the 2 cores with every other process of ours
# stopped; then each step-500 checkpoint meta-tested at the posterior mean on the study's fixed
# 1,000 episodes per data set, and the two paired on those episodes (taml-compare).
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
data="${TAML_DATA_DIR:-/work/shared/data}"
source "$repo/docs/benchmarks/quiet_sitting.sh"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
bin=$repo/.venv/bin
one() {  # code folder, run name: train to 500, then meta-test the step-500 checkpoint
  local code=$1 run=$root/$2
  cd "$code"
  PYTHONPATH=$code "$bin/taml-train" --variant=bayesian_taml --id_dataset=omniglot \
    --ood_dataset=mnist --data_dir="$data" --way=5 --max_shot=15 --query=5 --metabatch=4 \
    --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 --n_train_iters=500 --save_freq=250 \
    --eval_freq=0 --log_freq=10 --seed=0 --savedir="$run" > "$out/$2_train.log" 2>&1
  [ -f "$run/results/test/results.json" ] ||
    PYTHONPATH=$code "$bin/taml-evaluate" --savedir="$run" --n_test_episodes=1000 \
      --eval_mode=mean --checkpoint=500 --output_dir="$run/results/test" > "$out/$2_test.log" 2>&1
}
date -Is | tee "$out/started.txt"
one "$plain" plain & p1=$!
one "$repo" closed & p2=$!
wait $p1 $p2
date -Is | tee "$out/finished.txt"
cd "$repo"
grep -h "step .*/500 " "$out/plain_train.log" | sed 's/.*\] //' > "$out/plain_losses.txt"
grep -h "step .*/500 " "$out/closed_train.log" | sed 's/.*\] //' > "$out/closed_losses.txt"
"$bin/taml-compare" --runs="$root" --results=results/test --output="$out/compare.md" | filter
"$bin/python" "$repo/docs/benchmarks/2026-12-05_bn_closed_form/before_after_table.py" "$root" 2>&1 |
  filter > "$out/paired.md"
