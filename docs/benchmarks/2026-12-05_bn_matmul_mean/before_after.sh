#!/usr/bin/env bash
# Issue 39 item 3 for the two-stage batch-norm means (a5be6b7): the 500-update Omniglot -> MNIST
# training of Bayesian TAML that 2026-12-05_bn_closed_form/before_after.sh ran for the closed
# form, now with this checkout's code ("two_stage"), into the same ROOT, with the same flags
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
data="${TAML_DATA_DIR:-/work/shared/data}"
[ -f "$root/closed/results/test/results.json" ] || { echo "no closed-form run in $root" >&2; exit 1; }
source "$repo/docs/benchmarks/quiet_sitting.sh"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
bin=$repo/.venv/bin
run=$root/two_stage
date -Is | tee "$out/started.txt"
# The flags of 2026-12-05_bn_closed_form/before_after.sh's `one`, unchanged.
"$bin/taml-train" --variant=bayesian_taml --id_dataset=omniglot \
  --ood_dataset=mnist --data_dir="$data" --way=5 --max_shot=15 --query=5 --metabatch=4 \
  --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 --n_train_iters=500 --save_freq=250 \
  --eval_freq=0 --log_freq=10 --seed=0 --savedir="$run" > "$out/two_stage_train.log" 2>&1
[ -f "$run/results/test/results.json" ] ||
  "$bin/taml-evaluate" --savedir="$run" --n_test_episodes=1000 --eval_mode=mean \
    --checkpoint=500 --output_dir="$run/results/test" > "$out/two_stage_test.log" 2>&1
date -Is | tee "$out/finished.txt"
grep -h "step .*/500 " "$out/two_stage_train.log" | sed 's/.*\] //' > "$out/two_stage_losses.txt"
"$bin/python" - "$root" > "$out/paired.md" 2> >(filter >&2) <<'PY'
import os, sys
from taml_tf.products import comparison
root = sys.argv[1]
entries = {code: comparison.load_entry(os.path.join(root, code, 'results', 'test'), code)
           for code in ('closed', 'two_stage')}
print('| data set | closed form, one reduction, 8987f28 (%) | two-stage, a5be6b7 (%) | two-stage - closed, paired (points) |')
print('|---|---|---|---|')
for dataset in ('omniglot', 'mnist'):
  cells = [f"{100 * entries[c].results['datasets'][dataset]['accuracy']:.2f} ± "
           f"{100 * entries[c].results['datasets'][dataset]['ci95']:.2f}" for c in ('closed', 'two_stage')]
  diff, ci, n = comparison.paired_difference(entries['two_stage'], entries['closed'], dataset)
  print(f'| {dataset} | {cells[0]} | {cells[1]} | {100 * diff:+.2f} ± {100 * ci:.2f} ({n} episodes) |')
PY
cat "$out/paired.md"
