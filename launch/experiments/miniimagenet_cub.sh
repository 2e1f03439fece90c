#!/usr/bin/env bash
# The paper's Table 1, right: miniImageNet (Ravi & Larochelle split, image folders with
# train/ val/ test/ sub-folders at $MINIIMAGENET_DIR) -> CUB (TFDS caltech_birds2011),
# 84x84x3, 5-way, 1..50 shots, 15 queries, metabatch 1, Adam 1e-4, inner lr 0.1, 80k iterations.
# Usage: bash launch/experiments/miniimagenet_cub.sh [maml|metasgd|bayesian_taml] [flags...]
set -euo pipefail
variant="${1:-bayesian_taml}"; shift || true
MAML_INNER_LR=0.1 source "$(dirname "$0")/common.sh" "$variant"
: "${MINIIMAGENET_DIR:?set MINIIMAGENET_DIR to the miniImageNet folder (train/ val/ test/)}"
savedir="${SAVEDIR:-runs/miniimagenet_$variant}"
taml-train "${variant_flags[@]}" --id_dataset="$MINIIMAGENET_DIR" --ood_dataset=cub \
  --image_size=84 --image_channels=3 --way=5 --max_shot=50 --query=15 --metabatch=1 \
  --meta_lr=1e-4 --n_steps=5 --n_test_steps=10 --n_train_iters=80000 \
  --save_freq=1000 --savedir="$savedir" "$@"
taml-evaluate --savedir="$savedir" --n_test_episodes=1000
