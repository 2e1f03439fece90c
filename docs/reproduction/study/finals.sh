#!/usr/bin/env bash
# The finals of the study's pair at 10,000 updates, as run on 2026-11-27 (started while both
# lanes were still training; it waits for them):
#   metasgd: once its lane is done, export with its card and re-measure the export (mean);
#   bayesian_taml: once its mean meta-test is written, stop its lane (whose MC meta-test would
#   take ~80 min on one core), export with its card, and run the MC-10 meta-test of the export
#   as two processes, one per data set, merged into results/step_10000_mc.
# The exports here wrote their cards with the absolute --export_dir; the cards were then
# rewritten with the relative path and their notes (model_card.render, as taml-export
# --card_note does), without touching the SavedModels.
set -u
R=~/taml_runs/omniglot_mnist_study M="$(cd "$(dirname "$0")/../../.." && pwd)" F=~/taml_runs/finals
mkdir -p $F
source ~/taml_runs/venv/bin/activate
export TAML_DATA_DIR="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}" TF_CPP_MIN_LOG_LEVEL=2 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
DATA="--way=5 --max_shot=15 --query=5 --shot_mode=mixed --n_test_episodes=1000 --seed=0"
metasgd() {
  until [ -f $R/metasgd/results/step_10000/.done ]; do sleep 20; done
  echo "$(date) metasgd: export"
  taml-export --savedir=$R/metasgd --checkpoint=10000 --results_dir=$R/metasgd/results/step_10000 \
    --export_dir=$M/pretrained/omniglot_mnist/metasgd --overwrite > $F/export_metasgd.log 2>&1
  echo "$(date) metasgd: re-measure (mean)"
  taml-evaluate --saved_model=$M/pretrained/omniglot_mnist/metasgd --id_dataset=omniglot --ood_dataset=mnist \
    $DATA --eval_mode=mean --output_dir=$F/remeasure_metasgd > $F/remeasure_metasgd.log 2>&1
  echo "$(date) metasgd: done"
}
bayes() {
  until [ -f $R/bayesian_taml/results/step_10000/results.json ]; do sleep 10; done
  sleep 5
  pkill -f 'lane.sh 500 2000 5000 10000 bayesian_taml:bayesian_taml' ; pkill -f 'omniglot_mnist_study.sh bayesian_taml'
  pkill -f 'savedir=/root/taml_runs/omniglot_mnist_study/bayesian_taml --n_test_episodes=1000 --eval_mode=mc'
  echo "$(date) bayesian_taml: lane stopped; export"
  taml-export --savedir=$R/bayesian_taml --checkpoint=10000 --results_dir=$R/bayesian_taml/results/step_10000 \
    --export_dir=$M/pretrained/omniglot_mnist/bayesian_taml --overwrite > $F/export_bayesian_taml.log 2>&1
  echo "$(date) bayesian_taml: MC-10 per data set"
  for d in omniglot mnist; do
    taml-evaluate --saved_model=$M/pretrained/omniglot_mnist/bayesian_taml --id_dataset=$d \
      $DATA --eval_mode=mc --output_dir=$F/mc_$d > $F/mc_$d.log 2>&1 &
  done
  wait
  python $M/docs/reproduction/study/merge_results.py $R/bayesian_taml/results/step_10000_mc $F/mc_omniglot $F/mc_mnist \
    && touch $R/bayesian_taml/results/step_10000/.done
  echo "$(date) bayesian_taml: re-measure (mean)"
  taml-evaluate --saved_model=$M/pretrained/omniglot_mnist/bayesian_taml --id_dataset=omniglot --ood_dataset=mnist \
    $DATA --eval_mode=mean --output_dir=$F/remeasure_bayesian_taml > $F/remeasure_bayesian_taml.log 2>&1
  echo "$(date) bayesian_taml: done"
}
metasgd >> $F/finals.log 2>&1 &
bayes >> $F/finals.log 2>&1 &
wait
