#!/usr/bin/env bash
# Beside before_after.sh: where its two trainings part. The same training (flags, seed 0, one
# thread per op) for 5 updates, logged at every update, with the code before the batch-norm
# closed form (PLAIN, a worktree at 1e1dcc4) and after it (this checkout). The loss logged at
# update 1 is computed from the same initial weights on the same episodes, so the two must
# agree there to float32 rounding; from update 2 on, Adam's normalised step turns rounding
# differences in the smallest gradient entries into weight differences of the learning rate's
# size, and the losses part. The control: the code after it with --sequential_tasks (the same
# update, its gradient summed over the tasks in another order; a rounding change only).
# Usage: PLAIN=/path/to/worktree-at-1e1dcc4 bash first_steps.sh   (from the repository root)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-05_bn_closed_form/before_after
plain=${PLAIN:?set PLAIN to a worktree of 1e1dcc4}
root=$(mktemp -d)
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
for code in plain closed closed_sequential; do
  dir=$repo extra=; [ $code = plain ] && dir=$plain
  [ $code = closed_sequential ] && extra=--sequential_tasks
  (cd "$dir" && PYTHONPATH=$dir "$repo/.venv/bin/taml-train" --variant=bayesian_taml \
    --id_dataset=omniglot --ood_dataset=mnist --data_dir="${TAML_DATA_DIR:-/work/shared/data}" \
    --way=5 --max_shot=15 --query=5 --metabatch=4 --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 \
    --n_train_iters=5 --save_freq=5 --eval_freq=0 --log_freq=1 --seed=0 --savedir="$root/$code" $extra 2>&1) |
    grep "step ./5 " | sed 's/.*\] //' | awk -v c=$code '{print c, $1, $2, $3, $4, $5, $6, $7, $8}'
done | tee "$out/first_steps.txt"
rm -rf "$root"
