#!/usr/bin/env bash
# Carries the long study's runs across machines. The study trains for longer than a session, and
# a session's machine is not always handed on: `save` copies what a run needs to resume exactly
# into docs/reproduction/study/run_state/<run>/ (config.json, the latest checkpoint, the best
# checkpoint and best.json, the TensorBoard logs, the meta-tests' results.json and the shots of
# their episodes; about 5 MB a run), to be committed at a session's end; `restore` puts it back
# under ROOT on a new machine, for each run whose saved checkpoint is newer than the one there
# (a newer run on this machine is kept).
# The lanes (lane.sh) then resume from it. Kept now that every run has reached 10,000 updates:
# its checkpoints there are what diagnostics.py, omega_image_probe.py and taml-figures read.
# Usage: run_state.sh save|restore [RUN ...]   (default: every run in the state or under ROOT)
# Env: ROOT (the runs, default ~/taml_runs/omniglot_mnist_study), VENV (a venv with this
#      checkout's taml_tf, default the repository's .venv).
set -euo pipefail
mode=${1:?usage: run_state.sh save|restore [RUN ...]}; shift
root="${ROOT:-$HOME/taml_runs/omniglot_mnist_study}"
here="$(cd "$(dirname "$0")" && pwd)"
state="$here/run_state"
# restore_shots.py imports today's package layout (taml_tf/method, data, execution, products):
# the checkout's venv, not the frozen code's that trains the runs.
python="${VENV:-$here/../../../.venv}/bin/python"

latest_step() {  # the step of a checkpoints/ folder's latest checkpoint, or 0
  local f="$1/checkpoint"
  [ -f "$f" ] || { echo 0; return; }
  sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$f" | sed 's/.*ckpt-//'
}

copy_run() {  # src dst: the resumable part of one run folder
  local src=$1 dst=$2 step
  step=$(latest_step "$src/checkpoints")
  rm -rf "$dst.tmp" && mkdir -p "$dst.tmp/checkpoints"
  cp "$src/config.json" "$dst.tmp/"
  cp "$src/checkpoints/ckpt-$step".* "$dst.tmp/checkpoints/"
  printf 'model_checkpoint_path: "ckpt-%s"\nall_model_checkpoint_paths: "ckpt-%s"\n' "$step" "$step" \
    > "$dst.tmp/checkpoints/checkpoint"
  for d in best logs results; do if [ -d "$src/$d" ]; then cp -r "$src/$d" "$dst.tmp/"; fi; done
  # The meta-tests' balancing arrays (MB each) feed the figures, which are drawn at each
  # milestone; results.json is kept whole, and balancing.npz slimmed to the per-episode task
  # sizes and shots (tens of KB) that taml-compare checks before it pairs two meta-tests.
  # (Saves before 2026-11-29 dropped it; restore_shots.py redraws those.)
  find "$dst.tmp" -name balancing.npz -print0 |
    xargs -0 -r env TF_CPP_MIN_LOG_LEVEL=2 "$python" "$here/restore_shots.py" --slim
  # The existing run (older) is replaced whole, so that its later checkpoints cannot mix in.
  rm -rf "$dst" && mv "$dst.tmp" "$dst"
  echo "$(basename "$dst"): step $step"
}

case "$mode" in
  save)
    runs=("$@"); [ ${#runs[@]} -gt 0 ] || runs=($(cd "$root" && ls -d */ | tr -d /))
    for r in "${runs[@]}"; do
      # A run that has not checkpointed yet has nothing to resume from.
      if [ -f "$root/$r/checkpoints/checkpoint" ]; then copy_run "$root/$r" "$state/$r"; fi
    done ;;
  restore)
    runs=("$@"); [ ${#runs[@]} -gt 0 ] || runs=($(cd "$state" && ls -d */ | tr -d /))
    for r in "${runs[@]}"; do
      # (Not named `here`: that is this script's folder, which copy_run reads.)
      saved=$(latest_step "$state/$r/checkpoints"); local_step=$(latest_step "$root/$r/checkpoints")
      if [ "$local_step" -ge "$saved" ]; then
        echo "$r: kept (step $local_step here, $saved saved)"; continue
      fi
      mkdir -p "$root" && copy_run "$state/$r" "$root/$r"
    done ;;
  *) echo "usage: run_state.sh save|restore [RUN ...]" >&2; exit 2 ;;
esac
