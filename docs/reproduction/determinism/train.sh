#!/usr/bin/env bash
# One short full-size Bayesian TAML training of the Omniglot -> MNIST study's configuration
# (seed 0, one thread per op), checkpointing every --save_freq updates, for bit-for-bit
# comparisons between runs (compare_checkpoints.py).
# Usage: CODE=<checkout with its venv's taml-train on PATH> OUT=<runs folder> train.sh NAME [flags]
# e.g.   train.sh r1 --n_train_iters=30 --save_freq=10 --eval_freq=0
set -euo pipefail
code="${CODE:?CODE: a checkout of taml-tf}"
out="${OUT:?OUT: a folder for the runs}"
name="${1:?usage: train.sh NAME [taml-train flags]}"; shift
cd "$code"
source launch/experiments/common.sh bayesian_taml
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
taml-train "${variant_flags[@]}" --id_dataset=omniglot --ood_dataset=mnist \
  --data_dir="${TAML_DATA_DIR:-$code/../shared/data}" \
  --way=5 --max_shot=15 --query=5 --metabatch=4 --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 \
  --log_freq=10 --savedir="$out/$name" "$@"
