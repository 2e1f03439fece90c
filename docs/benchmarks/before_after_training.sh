# Sourced by the dated before_after.sh scripts (issue 39 item 3) and first_steps.sh: the
# training a change to the train step is checked with. 500 Omniglot -> MNIST updates of Bayesian
# TAML with the short-budget study's flags, seed 0, one thread per op; then the step-500
# checkpoint meta-tested at the posterior mean on the study's fixed 1,000 episodes per data set.
# Defines `before_after_flags` (taml-train's flags; absl takes a repeated flag's last value, so a
# caller may append overrides), `train_then_test` and `train_side_by_side`.
# The caller sets `bin` (a venv's bin folder); TAML_DATA_DIR (default /work/shared/data).
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
before_after_flags=(--variant=bayesian_taml --id_dataset=omniglot --ood_dataset=mnist
  --data_dir="${TAML_DATA_DIR:-/work/shared/data}" --way=5 --max_shot=15 --query=5 --metabatch=4
  --meta_lr=1e-3 --n_steps=5 --n_test_steps=10 --n_train_iters=500 --save_freq=250
  --eval_freq=0 --log_freq=10 --seed=0)
# train_then_test CODE ROOT NAME OUT: the code in folder CODE (run from there with PYTHONPATH
# set, so a worktree of another commit is what gets imported) trained into ROOT/NAME, its
# step-500 checkpoint meta-tested into ROOT/NAME/results/test (skipped where done); logs in
# OUT/NAME_train.log and OUT/NAME_test.log, the logged losses in OUT/NAME_losses.txt.
train_then_test() (
  local code=$1 run=$2/$3 name=$3 out=$4
  cd "$code"
  PYTHONPATH=$code "$bin/taml-train" "${before_after_flags[@]}" --savedir="$run" \
    > "$out/${name}_train.log" 2>&1
  [ -f "$run/results/test/results.json" ] ||
    PYTHONPATH=$code "$bin/taml-evaluate" --savedir="$run" --n_test_episodes=1000 \
      --eval_mode=mean --checkpoint=500 --output_dir="$run/results/test" \
      > "$out/${name}_test.log" 2>&1
  grep -h "step .*/500 " "$out/${name}_train.log" | sed 's/.*\] //' > "$out/${name}_losses.txt"
)
# train_side_by_side BEFORE_CODE AFTER_CODE ROOT BEFORE_NAME AFTER_NAME OUT: `train_then_test`
# of the two codes at once, one per core; the start and end times in OUT/started.txt and
# OUT/finished.txt. Waits for these two only: a bare `wait` would also wait for any other
# background job of the caller (quiet_sitting.sh's freezer runs until the caller exits).
train_side_by_side() {
  local first second
  date -Is | tee "$6/started.txt"
  train_then_test "$1" "$3" "$4" "$6" & first=$!
  train_then_test "$2" "$3" "$5" "$6" & second=$!
  wait "$first" "$second"
  date -Is | tee "$6/finished.txt"
}
# before_after_check FOLDER RUNS BEFORE_NAME AFTER_NAME BEFORE_LABEL AFTER_LABEL: a lever's
# 500-update check (issue 39 item 3), run from the repository root of the code after the lever:
# the code in $BEFORE (a worktree of the commit before) and this checkout trained side by side
# (`train_side_by_side`, named BEFORE_NAME and AFTER_NAME) with seed $SEED (default 0) into
# $ROOT (default ~/taml_runs/RUNS_before_after[_seed<SEED>]), then paired
# (before_after_table.py, the columns headed BEFORE_LABEL and AFTER_LABEL) into
# docs/benchmarks/FOLDER/before_after[_seed<SEED>]/paired.md. QUIET=1 (the default) stops every
# other process of ours for the run (quiet_sitting.sh); QUIET=0 runs beside other work (its
# steps/s are then not read). The venv is $TAML_BIN, or this checkout's .venv/bin.
before_after_check() {
  local repo=$PWD seed=${SEED:-0} suffix before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
  suffix=$([ "$seed" = 0 ] && echo "" || echo "_seed$seed")
  local out=$repo/docs/benchmarks/$1/before_after$suffix
  mkdir -p "$out"
  local root="${ROOT:-$HOME/taml_runs/$2_before_after$suffix}"
  if [ "${QUIET:-1}" = 1 ]; then
    source "$repo/docs/benchmarks/quiet_sitting.sh"
  else
    filter() { cat > /dev/null; }
    lscpu > "$out/lscpu.txt"
  fi
  bin=${TAML_BIN:-$repo/.venv/bin}
  before_after_flags+=(--seed="$seed")
  train_side_by_side "$before" "$repo" "$root" "$3" "$4" "$out"
  "$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" "$3" "$4" "$5" "$6" \
    2> >(filter >&2) > "$out/paired.md"
  cat "$out/paired.md"
}
