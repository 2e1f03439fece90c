#!/usr/bin/env bash
# Issue 9's accuracy check of --precision=mixed_bfloat16 on a CPU with bfloat16 hardware:
# trains one variant for 500 meta-updates on Omniglot -> MNIST (the short-budget study's flags,
# seed 0, one thread per op) in one precision, then meta-tests its step-500 checkpoint at the
# posterior mean on the study's fixed 1,000 episodes per data set, in the precision it was
# trained in and in the other one. Two of these run side by side on the 2 cores.
# Usage: parity.sh VARIANT PRECISION [extra taml-train flags]
#   (env: ROOT, TAML_DATA_DIR, NAME: run folder name, default VARIANT_PRECISION;
#    TESTS: meta-test precisions, default both; taml-train on PATH)
# The float32 control of the doc: NAME=bayesian_taml_float32_sequential TESTS=float32 \
#   parity.sh bayesian_taml float32 --sequential_tasks
set -euo pipefail
variant=$1 precision=$2
shift 2
root="${ROOT:-$HOME/taml_runs/bfloat16_parity}"
run="$root/${NAME:-${variant}_$precision}"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
data="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}"
taml-train --variant="$variant" --id_dataset=omniglot --ood_dataset=mnist --data_dir="$data" \
  --way=5 --max_shot=15 --query=5 --metabatch=4 --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 \
  --n_train_iters=500 --save_freq=250 --eval_freq=0 --log_freq=50 --precision="$precision" \
  --savedir="$run" "$@"
for p in ${TESTS:-$precision $([ "$precision" = float32 ] && echo mixed_bfloat16 || echo float32)}; do
  [ -f "$run/results/test_$p/results.json" ] && continue
  taml-evaluate --savedir="$run" --n_test_episodes=1000 --eval_mode=mean --checkpoint=500 \
    --precision="$p" --output_dir="$run/results/test_$p"
done
