#!/usr/bin/env bash
# The finals of the study's third pair (MAML and gamma-TAML) at 10,000 updates, as run on
# 2026-11-29, started while both lanes were still training (it waits for them), the way
# finals_second_pair.sh ran the second pair's. gamma-TAML's lane runs with MC=0, so that it ends
# after its posterior-mean meta-test instead of a ~80 min Monte-Carlo meta-test on one core:
#   maml: once its lane is done, export and re-measure the export (mean);
#   gamma_taml: once its lane is done, export, run the MC-10 meta-test of the export as two
#   processes, one per data set, merged into results/step_10000_mc; then re-measure the export
#   (mean).
# The cards are rewritten afterwards with their notes (cards_third_pair.py).
set -u
R=~/taml_runs/omniglot_mnist_study M="$(cd "$(dirname "$0")/../../.." && pwd)" F=~/taml_runs/finals3
mkdir -p $F
cd "$M"
source ~/taml_runs/venv/bin/activate
export TAML_DATA_DIR="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}" TF_CPP_MIN_LOG_LEVEL=2 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
DATA="--way=5 --max_shot=15 --query=5 --shot_mode=mixed --n_test_episodes=1000 --seed=0"
export_run() {  # run
  until [ -f $R/$1/results/step_10000/.done ]; do sleep 20; done
  echo "$(date) $1: export"
  taml-export --savedir=$R/$1 --checkpoint=10000 --results_dir=$R/$1/results/step_10000 \
    --export_dir=pretrained/omniglot_mnist/$1 --overwrite > $F/export_$1.log 2>&1
}
remeasure() {  # run
  echo "$(date) $1: re-measure (mean)"
  taml-evaluate --saved_model=pretrained/omniglot_mnist/$1 --id_dataset=omniglot --ood_dataset=mnist \
    $DATA --eval_mode=mean --output_dir=$F/remeasure_$1 > $F/remeasure_$1.log 2>&1
  echo "$(date) $1: done"
}
maml() {
  export_run maml && remeasure maml
}
gamma() {
  local run=gamma_taml
  export_run $run
  echo "$(date) $run: MC-10 per data set"
  for d in omniglot mnist; do
    taml-evaluate --saved_model=pretrained/omniglot_mnist/$run --id_dataset=$d \
      $DATA --eval_mode=mc --output_dir=$F/mc_$d > $F/mc_$d.log 2>&1 &
  done
  wait
  python $M/docs/reproduction/study/merge_results.py $R/$run/results/step_10000_mc $F/mc_omniglot $F/mc_mnist
  remeasure $run
}
maml >> $F/finals.log 2>&1 &
gamma >> $F/finals.log 2>&1 &
wait
