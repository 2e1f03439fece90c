#!/usr/bin/env bash
# The study again, trained and meta-tested the authors' way (issue 28): MAML, Meta-SGD and
# Bayesian TAML (the authors' encoder initialisation) with both switches, --nobn_second_order
# (the meta-gradient their TF1 tf.map_fn computes) and --authors_padding (zero images to the
# meta-batch's longest support set, counted by batch norm, the inner-loss normaliser and the KL
# weight), otherwise the flags, seed and budgets of the 10,000-update study. Two lanes
# (lane.sh) in the background: MAML then Meta-SGD in one, Bayesian TAML in the other; each lane
# resumes where it stopped when this script is run again. With CAUSES=1 it starts the runs that
# separate the two differences instead (each switch alone, for MAML and Bayesian TAML).
# Usage: bash authors_training.sh      Env: as lane.sh (CODE, VENV, ROOT, TAML_DATA_DIR), LOGS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logs="${LOGS:-$HOME/taml_runs/logs}"
mkdir -p "$logs"
budgets="500 2000 5000 10000"
both="--nobn_second_order --authors_padding"
source "$here/start_lane.sh"
if [ "${CAUSES:-0}" = 1 ]; then
  lane causes_maml "maml:maml_gradient:--nobn_second_order" "maml:maml_padding:--authors_padding"
  lane causes_taml "bayesian_taml:bayesian_taml_gradient:--nobn_second_order" \
    "bayesian_taml:bayesian_taml_padding:--authors_padding"
else
  lane authors_a "maml:maml_authors:$both" "metasgd:metasgd_authors:$both"
  lane authors_b "bayesian_taml:bayesian_taml_authors:$both"
fi
