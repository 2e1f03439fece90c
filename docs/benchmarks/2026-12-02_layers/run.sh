#!/usr/bin/env bash
# The train step before and after the layer folders and the Keras front door (issue 29), on one
# machine in one sitting, alternating before / after twice (ABAB) against drift:
#   before: the code at a551d95 (the flat package; its venv, e.g. the study's ~/taml_runs/venv)
#   after:  this checkout's venv.
# Then the Keras path: TamlModel.fit against the Trainer's step (keras_fit.py).
# Usage: BEFORE_CODE=~/taml_runs/code BEFORE_VENV=~/taml_runs/venv bash run.sh  (nothing else
# running; TAML_DATA_DIR set)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
plan="A:maml:second:function:train,A:bayesian_taml:second:function:train"
lscpu | grep -E 'Model name|^CPU\(s\)' > "$here/machine.txt"
for round in 1 2; do
  (cd "${BEFORE_CODE:?}" && "${BEFORE_VENV:?}/bin/python" -m taml_tf.launch.benchmark \
     --data_dir="$TAML_DATA_DIR" --plan="$plan" --out="$here/before_$round.md" \
     --json_out="$here/before_$round.json")
  (cd "$repo" && "$repo/.venv/bin/python" -m taml_tf.launch.benchmark \
     --data_dir="$TAML_DATA_DIR" --plan="$plan" --out="$here/after_$round.md" \
     --json_out="$here/after_$round.json")
done
(cd "$repo" && "$repo/.venv/bin/python" "$here/keras_fit.py" > "$here/keras_fit.txt")
