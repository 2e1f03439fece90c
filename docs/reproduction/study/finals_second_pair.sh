#!/usr/bin/env bash
# The finals of the study's second pair at 10,000 updates, as run on 2026-11-28 (started while
# both lanes were still training; it waits for them), the way finals.sh ran the first pair's:
#   deterministic_taml: once its lane is done (posterior-mean meta-test written), export with
#   its card and re-measure the export (mean);
#   bayesian_taml_glorot: once its mean meta-test is written, stop its lane (whose Monte-Carlo
#   meta-test would take ~80 min on one core), export with its card, and run the MC-10
#   meta-test of the export as two processes, one per data set, merged into
#   results/step_10000_mc; then re-measure the export (mean).
# The cards are rewritten afterwards with their notes (model_card.render, as taml-export
# --card_note does), without touching the SavedModels.
set -u
R=~/taml_runs/omniglot_mnist_study M="$(cd "$(dirname "$0")/../../.." && pwd)" F=~/taml_runs/finals2
mkdir -p $F
cd "$M"
source ~/taml_runs/venv/bin/activate
export TAML_DATA_DIR="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}" TF_CPP_MIN_LOG_LEVEL=2 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
DATA="--way=5 --max_shot=15 --query=5 --shot_mode=mixed --n_test_episodes=1000 --seed=0"
deterministic() {
  until [ -f $R/deterministic_taml/results/step_10000/.done ]; do sleep 20; done
  echo "$(date) deterministic_taml: export"
  taml-export --savedir=$R/deterministic_taml --checkpoint=10000 \
    --results_dir=$R/deterministic_taml/results/step_10000 \
    --export_dir=pretrained/omniglot_mnist/deterministic_taml --overwrite > $F/export_deterministic_taml.log 2>&1
  echo "$(date) deterministic_taml: re-measure (mean)"
  taml-evaluate --saved_model=pretrained/omniglot_mnist/deterministic_taml --id_dataset=omniglot --ood_dataset=mnist \
    $DATA --eval_mode=mean --output_dir=$F/remeasure_deterministic_taml > $F/remeasure_deterministic_taml.log 2>&1
  echo "$(date) deterministic_taml: done"
}
glorot() {
  local run=bayesian_taml_glorot
  until [ -f $R/$run/results/step_10000/results.json ]; do sleep 10; done
  sleep 5
  pkill -f "lane.sh 500 2000 5000 10000 bayesian_taml:$run" ; pkill -f 'omniglot_mnist_study.sh bayesian_taml --encoder_init=glorot'
  pkill -f "savedir=$R/$run --n_test_episodes=1000 --eval_mode=mc"
  echo "$(date) $run: lane stopped; export"
  taml-export --savedir=$R/$run --checkpoint=10000 --results_dir=$R/$run/results/step_10000 \
    --export_dir=pretrained/omniglot_mnist/$run --overwrite > $F/export_$run.log 2>&1
  echo "$(date) $run: MC-10 per data set"
  for d in omniglot mnist; do
    taml-evaluate --saved_model=pretrained/omniglot_mnist/$run --id_dataset=$d \
      $DATA --eval_mode=mc --output_dir=$F/mc_$d > $F/mc_$d.log 2>&1 &
  done
  wait
  python $M/docs/reproduction/study/merge_results.py $R/$run/results/step_10000_mc $F/mc_omniglot $F/mc_mnist \
    && touch $R/$run/results/step_10000/.done
  echo "$(date) $run: re-measure (mean)"
  taml-evaluate --saved_model=pretrained/omniglot_mnist/$run --id_dataset=omniglot --ood_dataset=mnist \
    $DATA --eval_mode=mean --output_dir=$F/remeasure_$run > $F/remeasure_$run.log 2>&1
  echo "$(date) $run: done"
}
deterministic >> $F/finals.log 2>&1 &
glorot >> $F/finals.log 2>&1 &
wait
