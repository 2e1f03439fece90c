#!/usr/bin/env bash
# Seeds 1 and 2 of the runs the answer rests on (issue 40): MAML, Meta-SGD and Bayesian TAML
# with exact training, and MAML and Bayesian TAML trained the authors' way (--nobn_second_order
# --authors_padding), each with the study's flags, data, episodes and budgets; only --seed
# differs (the episode stream and the posterior samples of training; every meta-test keeps the
# study's 1,000 + 1,000 episodes and its Monte-Carlo seed). Runs are named <run>_seed<S> under
# ROOT, next to seed 0's names, so that `taml-compare --seeds` pairs them.
# Two lanes (lane.sh) in the background, one per core: the MAML / Meta-SGD runs in one, the
# Bayesian TAML runs in the other; each lane resumes where it stopped (every budget already
# meta-tested is skipped) when this script is run again, on a new machine after
# `run_state.sh restore`.
# LANES=3 gives the authors'-training MAML runs a third lane (seeds_c): three processes share
# the two cores, but no core idles at the end while the MAML / Meta-SGD lane, which holds three
# runs per seed against the other's two, finishes alone.
# Usage: bash seeds_training.sh [SEEDS]   (default "1 2")
# Env: as lane.sh (CODE, VENV, ROOT, TAML_DATA_DIR), LOGS, BUDGETS (default "2000 10000": the
#      checkpoints every 500 updates stay, so any other budget can be meta-tested afterwards),
#      LANES (2, default, or 3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logs="${LOGS:-$HOME/taml_runs/logs}"
mkdir -p "$logs"
seeds="${1:-1 2}"
budgets="${BUDGETS:-2000 10000}"
both="--nobn_second_order --authors_padding"
source "$here/start_lane.sh"
lanes="${LANES:-2}"
case "$lanes" in 2|3) ;; *) echo "LANES must be 2 or 3, not '$lanes'" >&2; exit 2 ;; esac
a=() b=() c=()
for s in $seeds; do
  a+=("maml:maml_seed$s:--seed=$s" "metasgd:metasgd_seed$s:--seed=$s")
  if [ "$lanes" = 3 ]; then c+=("maml:maml_authors_seed$s:$both --seed=$s")
  else a+=("maml:maml_authors_seed$s:$both --seed=$s"); fi
  b+=("bayesian_taml:bayesian_taml_seed$s:--seed=$s"
      "bayesian_taml:bayesian_taml_authors_seed$s:$both --seed=$s")
done
lane seeds_a "${a[@]}"
lane seeds_b "${b[@]}"
if [ "$lanes" = 3 ]; then lane seeds_c "${c[@]}"; fi
