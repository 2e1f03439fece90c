#!/usr/bin/env bash
# The long-budget Omniglot -> MNIST study of docs/reproduction.md: trains one variant for ITERS
# meta-updates (default 10,000) with the paper's mixed any-shot tasks, seed 0, one thread per op,
# a checkpoint every 500 updates kept for the learning curve, and validation every 500 updates
# with the authors' best-checkpoint rule (mean of the in- and out-of-distribution accuracies).
# A killed run resumes where it stopped when started again with the same arguments; a larger
# ITERS continues a finished run (the budget does not change the updates made so far), so the
# learning curve is ITERS=500, 2000, 5000, 10000 in turn. After training, the checkpoint at
# ITERS is meta-tested at the posterior mean on the fixed 1,000 episodes per data set, into
# <run>/results/step_<ITERS>. With MC=1 (the default at the final budget, ITERS >= 10000) a
# variant that samples its balancing variables is also meta-tested with 10 Monte-Carlo samples
# on the same episodes, into <run>/results/step_<ITERS>_mc: the paper's protocol, compared by
#   taml-compare --runs=ROOT --results=results/step_N,results/step_N_mc --references=metasgd,maml
# A run trained the authors' way (--authors_padding) is meta-tested as theirs, in meta-batches of
# 4 padded to their longest support set, and also unpadded, into <run>/results/step_<ITERS>_unpadded
# (and step_<ITERS>_mc_unpadded).
# Usage: bash launch/experiments/omniglot_mnist_study.sh VARIANT [extra taml-train flags]
# Env: ROOT (folder of the runs, default ~/taml_runs/omniglot_mnist_study), NAME (run folder
#      name, default VARIANT), ITERS, MC, TAML_DATA_DIR.
set -euo pipefail
variant="${1:?usage: omniglot_mnist_study.sh VARIANT [flags]}"; shift
root="${ROOT:-$HOME/taml_runs/omniglot_mnist_study}"
iters="${ITERS:-10000}"
mc="${MC:-$([ "$iters" -ge 10000 ] && echo 1 || echo 0)}"
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
run="$root/${NAME:-$variant}"
SAVEDIR="$run" EVAL_FLAGS="--eval_mode=mean --checkpoint=$iters --output_dir=$run/results/step_$iters" \
  bash "$(dirname "$0")/omniglot_mnist.sh" "$variant" --n_train_iters="$iters" \
  --save_freq=500 --max_to_keep=100 --eval_freq=500 --n_val_episodes=100 --best_rule=mean \
  --log_freq=50 "$@"
padded=0
for flag in "$@"; do [ "$flag" = --authors_padding ] && padded=1; done
if [ "$padded" = 1 ]; then
  taml-evaluate --savedir="$run" --n_test_episodes=1000 --eval_mode=mean --test_padding=none \
    --checkpoint="$iters" --output_dir="$run/results/step_${iters}_unpadded"
fi
case "$variant" in
  bayesian_taml|omega_taml|gamma_taml|z_taml)
    if [ "$mc" = 1 ]; then
      taml-evaluate --savedir="$run" --n_test_episodes=1000 --eval_mode=mc --n_mc_samples=10 \
        --checkpoint="$iters" --output_dir="$run/results/step_${iters}_mc"
      if [ "$padded" = 1 ]; then
        taml-evaluate --savedir="$run" --n_test_episodes=1000 --eval_mode=mc --n_mc_samples=10 \
          --test_padding=none --checkpoint="$iters" --output_dir="$run/results/step_${iters}_mc_unpadded"
      fi
    fi ;;
esac
