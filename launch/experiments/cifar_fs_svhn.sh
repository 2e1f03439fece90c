#!/usr/bin/env bash
# The paper's Table 1, left: CIFAR-FS (Bertinetto et al. split) -> SVHN, 5-way, 1..50 shots,
# 15 queries, metabatch 4, Adam 1e-3, 50k iterations (TFDS cifar100 and svhn_cropped).
# Usage: bash launch/experiments/cifar_fs_svhn.sh [maml|metasgd|bayesian_taml] [flags...]
set -euo pipefail
variant="${1:-bayesian_taml}"; shift || true
source "$(dirname "$0")/common.sh" "$variant"
savedir="${SAVEDIR:-runs/cifar_fs_$variant}"
taml-train "${variant_flags[@]}" --id_dataset=cifar_fs --ood_dataset=svhn \
  --way=5 --max_shot=50 --query=15 --metabatch=4 --meta_lr=1e-3 \
  --n_steps=5 --n_test_steps=10 --n_train_iters=50000 --save_freq=1000 --savedir="$savedir" "$@"
taml-evaluate --savedir="$savedir" --n_test_episodes=1000
