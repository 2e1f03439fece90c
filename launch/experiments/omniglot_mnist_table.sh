#!/usr/bin/env bash
# The six-variant Omniglot -> MNIST comparison of docs/reproduction.md: MAML, Meta-SGD, omega-,
# gamma-, z-TAML and Bayesian TAML, each trained with the same budget (ITERS meta-updates,
# second order, 5 inner steps), then meta-tested on 1000 episodes per data set with 10 inner
# steps and the posterior mean; z-TAML and Bayesian TAML are also meta-tested with
# n_mc_samples=10 Monte-Carlo samples on MC_EPISODES episodes. Two single-threaded runs go side by
# side: on 2 cores that gives 1.2 meta-updates/s in all against 0.95 for one 2-thread run.
# Usage: ITERS=1000 MC_EPISODES=1000 bash launch/experiments/omniglot_mnist_table.sh
# Env: ROOT (folder of the six runs), TAML_DATA_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
iters="${ITERS:-1000}"; mc_episodes="${MC_EPISODES:-1000}"
root="${ROOT:-runs/omniglot_mnist_table}"
mkdir -p "$root"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1

queue() {  # queue MC_VARIANT VARIANT...: trains and evaluates each, then MC-evaluates MC_VARIANT
  local mc_variant="$1"; shift
  for v in "$@"; do
    SAVEDIR="$root/$v" EVAL_FLAGS="--eval_mode=mean" bash "$here/omniglot_mnist.sh" "$v" \
      --n_train_iters="$iters" --save_freq=250 --eval_freq=500 --n_val_episodes=50 \
      --log_freq=50 > "$root/$v.log" 2>&1
  done
  taml-evaluate --savedir="$root/$mc_variant" --eval_mode=mc --n_test_episodes="$mc_episodes" \
    --output_dir="$root/$mc_variant/results_mc" > "$root/${mc_variant}_mc.log" 2>&1
}

queue bayesian_taml bayesian_taml metasgd omega_taml &
queue z_taml maml z_taml gamma_taml &
wait
taml-compare --runs="$root" --output="$root/comparison.md"
