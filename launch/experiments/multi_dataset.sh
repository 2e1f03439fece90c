#!/usr/bin/env bash
# The paper's Table 2: meta-train on Aircraft, QuickDraw and VGG Flower (round-robin), test
# also on Traffic Signs and Fashion-MNIST; 32x32x3, 10-way, 1..50 shots, 15 queries,
# metabatch 3, 60k iterations. Aircraft (bounding-box crops) and GTSRB are not TFDS builders:
# give image folders in $AIRCRAFT_DIR and $GTSRB_DIR.
# Usage: bash launch/experiments/multi_dataset.sh [maml|metasgd|bayesian_taml] [flags...]
set -euo pipefail
variant="${1:-bayesian_taml}"; shift || true
source "$(dirname "$0")/common.sh" "$variant"
: "${AIRCRAFT_DIR:?set AIRCRAFT_DIR to the FGVC-Aircraft crops (train/ val/ test/)}"
: "${GTSRB_DIR:?set GTSRB_DIR to the GTSRB image folder (one sub-folder per class)}"
savedir="${SAVEDIR:-runs/multi_$variant}"
taml-train "${variant_flags[@]}" --id_dataset="$AIRCRAFT_DIR",quickdraw,vgg_flower \
  --ood_dataset="$GTSRB_DIR",fashion_mnist --image_size=32 --image_channels=3 \
  --way=10 --max_shot=50 --query=15 --metabatch=3 --meta_lr=1e-3 --n_steps=5 \
  --n_test_steps=10 --n_train_iters=60000 --save_freq=1000 --savedir="$savedir" "$@"
taml-evaluate --savedir="$savedir" --n_test_episodes=1000
