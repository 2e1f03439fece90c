#!/usr/bin/env bash
# One lane of the long study: trains one variant through a list of budgets in turn with
# launch/experiments/omniglot_mnist_study.sh (each budget continues the run and ends with the
# meta-test of its checkpoint), skipping budgets already meta-tested, so a lane killed anywhere
# is restarted with the same command. Two lanes run side by side on the 2 cores.
# Usage: lane.sh "500 2000 5000 10000" "VARIANT:RUN_NAME:extra taml-train flags"
# Env: CODE (the frozen checkout that trains, default ~/taml_runs/code), VENV (its venv, default
#      ~/taml_runs/venv), ROOT (the runs, default ~/taml_runs/omniglot_mnist_study), TAML_DATA_DIR
#      (required).
set -euo pipefail
budgets=$1
IFS=: read -r variant name flags <<< "$2"
code="${CODE:-$HOME/taml_runs/code}"
root="${ROOT:-$HOME/taml_runs/omniglot_mnist_study}"
source "${VENV:-$HOME/taml_runs/venv}/bin/activate"
export ROOT="$root" TAML_DATA_DIR="${TAML_DATA_DIR:?set TAML_DATA_DIR to the shared data folder}" TF_CPP_MIN_LOG_LEVEL=2
for n in $budgets; do
  done_file="$root/$name/results/step_$n/.done"
  if [ -f "$done_file" ]; then echo "$(date -u +%FT%TZ) $name: step $n already meta-tested"; continue; fi
  echo "$(date -u +%FT%TZ) $name: training to $n (code $(git -C "$code" rev-parse --short HEAD))"
  # shellcheck disable=SC2086  # the extra flags are words
  ITERS=$n NAME=$name bash "$code/launch/experiments/omniglot_mnist_study.sh" "$variant" $flags
  touch "$done_file"
  echo "$(date -u +%FT%TZ) $name: step $n done"
done
