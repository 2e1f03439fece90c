#!/usr/bin/env bash
# Beside before_after.sh: where its two trainings part. The same training
# (docs/benchmarks/before_after_training.sh's flags, seed 0, one thread per op) for 5 updates,
# logged at every update, with the code before the batch-norm closed form (PLAIN, a worktree at
# 1e1dcc4) and after it (this checkout). The loss logged at update 1 is computed from the same
# initial weights on the same episodes, so the two must agree there to float32 rounding; from update
# 2 on, Adam's normalised step turns rounding differences in the smallest gradient entries into
# weight differences of the learning rate's size, and the losses part. The control: the code after
# it with --sequential_tasks (the same update, its gradient summed over the tasks in another order;
# a rounding change only).
# Usage: PLAIN=/path/to/worktree-at-1e1dcc4 bash first_steps.sh   (from the repository root)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-05_bn_closed_form/before_after
plain=${PLAIN:?set PLAIN to a worktree of 1e1dcc4}
root=$(mktemp -d)
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
for code in plain closed closed_sequential; do
  dir=$repo extra=; [ $code = plain ] && dir=$plain
  [ $code = closed_sequential ] && extra=--sequential_tasks
  (cd "$dir" && PYTHONPATH=$dir "$bin/taml-train" "${before_after_flags[@]}" \
    --n_train_iters=5 --save_freq=5 --log_freq=1 --savedir="$root/$code" $extra 2>&1) |
    grep "step ./5 " | sed 's/.*\] //' | awk -v c=$code '{print c, $1, $2, $3, $4, $5, $6, $7, $8}'
done | tee "$out/first_steps.txt"
rm -rf "$root"
