#!/usr/bin/env bash
# Omniglot (background alphabets; held-out alphabets for validation; evaluation alphabets for
# meta-test) -> MNIST, 5-way any-shot (1..15 shots, 5 queries), conv4-32.
# Usage: bash launch/experiments/omniglot_mnist.sh [maml|metasgd|bayesian_taml|...] [train flags...]
# Env: SAVEDIR (run folder), TAML_DATA_DIR, EVAL_FLAGS (extra taml-evaluate flags).
set -euo pipefail
variant="${1:-bayesian_taml}"; shift || true
source "$(dirname "$0")/common.sh" "$variant"
savedir="${SAVEDIR:-runs/omniglot_mnist_$variant}"
data_dir="${TAML_DATA_DIR:-$(dirname "$0")/../../../shared/data}"
taml-train "${variant_flags[@]}" --id_dataset=omniglot --ood_dataset=mnist --data_dir="$data_dir" \
  --way=5 --max_shot=15 --query=5 --metabatch=4 --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 \
  --n_train_iters=20000 --save_freq=500 --eval_freq=500 --n_val_episodes=100 \
  --savedir="$savedir" "$@"
# shellcheck disable=SC2086  # EVAL_FLAGS is a list of flags
taml-evaluate --savedir="$savedir" --n_test_episodes=1000 ${EVAL_FLAGS:-}
