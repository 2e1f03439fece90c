#!/usr/bin/env bash
# The finals of the authors'-training runs (issue 28) at 10,000 updates, once their lanes are done
# (it waits for each): export each model with the results of its UNPADDED meta-test (an export
# computes every episode on its own rows, so only those are reproducible from it; the card says
# which training made it), then re-measure the export on the same episodes.
#   each run: results/step_10000_unpadded, its posterior-mean meta-test, which a card states and
#   tests/products/pretrained_test.py re-measures (for Bayesian TAML too, as for the study's
#   published bayesian_taml; its Monte-Carlo results stay in docs/reproduction.md).
# Exports go to pretrained/omniglot_mnist/<run>. Run from anywhere; commit the exports after.
# Env: TAML_DATA_DIR (required), ROOT, FINALS (default ~/taml_runs/finals_authors).
set -u
R="${ROOT:-$HOME/taml_runs/omniglot_mnist_study}" M="$(cd "$(dirname "$0")/../../.." && pwd)"
F="${FINALS:-$HOME/taml_runs/finals_authors}"
mkdir -p "$F"
cd "$M"
# Today's checkout's venv: the export is this package's SavedModel (the frozen code trained).
source "${VENV:-$M/.venv}/bin/activate"
export TAML_DATA_DIR="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}" TF_CPP_MIN_LOG_LEVEL=2 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
DATA="--way=5 --max_shot=15 --query=5 --shot_mode=mixed --n_test_episodes=1000 --seed=0"
final() {  # run, results folder, meta-test mode
  local run=$1 results=$2 mode=$3
  until [ -f "$R/$run/results/step_10000/.done" ] && [ -f "$R/$run/results/$results/results.json" ]; do
    sleep 60
  done
  echo "$(date) $run: export with $results"
  taml-export --savedir="$R/$run" --checkpoint=10000 --results_dir="$R/$run/results/$results" \
    --export_dir="pretrained/omniglot_mnist/$run" --overwrite > "$F/export_$run.log" 2>&1
  echo "$(date) $run: re-measure ($mode)"
  taml-evaluate --saved_model="pretrained/omniglot_mnist/$run" --id_dataset=omniglot \
    --ood_dataset=mnist $DATA --eval_mode="$mode" --output_dir="$F/remeasure_$run" \
    > "$F/remeasure_$run.log" 2>&1
  echo "$(date) $run: done"
}
{ final maml_authors step_10000_unpadded mean; final metasgd_authors step_10000_unpadded mean; } \
  >> "$F/finals.log" 2>&1 &
final bayesian_taml_authors step_10000_unpadded mean >> "$F/finals.log" 2>&1 &
wait
