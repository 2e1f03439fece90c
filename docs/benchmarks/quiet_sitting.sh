# Sourced by the dated side_by_side.sh scripts: the set-up every side-by-side sitting shares.
# Stops (SIGSTOP) every other process of ours for as long as the sourcing script runs, and
# resumes them when it exits, sparing the script's own processes; records `lscpu` in "$out";
# defines `filter` (drops TensorFlow's start-up chatter), the plan names A, B, M, N, `peers_round`,
# `bench_from` (one taml-benchmark run of a given code folder), `plan_for`, `alternate` and
# `turns` (codes taking turns, for one lever measured alone) and `sitting` (a lever's sitting
# with the peers).
# The caller sets `out`; OTHERS (an extended regex for pgrep -f) may widen what is stopped. The
# default covers the seed study's lanes (the frozen venv), its one-data-set meta-tests
# (evaluate_one.py, run by that venv's `python` from the checkout), CI runs, tests and Bazel.
others() {
  pgrep -f "${OTHERS:-taml_runs/venv/|evaluate_one|/work/ci_check|pytest|bazel}" | grep -v -x "$$"
}
freeze() { while true; do others | xargs -r kill -STOP 2>/dev/null; sleep 1; done; }
freeze & FREEZER=$!
trap 'kill $FREEZER; others | xargs -r kill -CONT' EXIT
lscpu > "$out/lscpu.txt"
filter() { grep -v -E "cuda|cuInit|absl::InitializeLog|rebuild TensorFlow|oneDNN custom"; }
A=A:bayesian_taml:second:function; B=B:bayesian_taml:second:function
M=A:maml:second:function; N=B:maml:second:function
# bench_from DIR OUT PLAN [FLAG...]: `taml-benchmark` on the peers' episodes, 10 iterations, of
# the code in DIR (run from DIR with PYTHONPATH=DIR, so a worktree's taml_tf/ is what gets
# imported although the venv's editable install points at this checkout; taml_tf.flags and
# taml_tf.launch, mapped by setup.py's package_dir, still come from the venv's checkout: a
# worktree whose library lacks what this checkout's launch/benchmark.py imports fails at
# start-up, as on 2026-12-07 at 18:06 UTC), tables written
# to OUT.md and OUT.json; FLAGs are added last (absl takes a repeated flag's last value); prints
# the run's last line. The venv is $TAML_BIN, or .venv/bin of the folder the caller sourced from.
bench_bin=${TAML_BIN:-$PWD/.venv/bin}
bench_from() {
  local dir=$1 prefix=$2 plan=$3 data=${TAML_DATA_DIR:-/work/shared/data}
  shift 3
  # TensorFlow reads these over the package's configured pools: a sitting started from a shell
  # that set them for other jobs measured pools (1, 1) against the peers' 2 threads (2026-12-07).
  if [ -n "${TF_NUM_INTEROP_THREADS:-}${TF_NUM_INTRAOP_THREADS:-}" ]; then
    echo "bench_from: TF_NUM_INTEROP_THREADS / TF_NUM_INTRAOP_THREADS are set; unset them" \
      "(the benchmark would measure those thread pools, not the package's)" >&2
    return 1
  fi
  (cd "$dir" && PYTHONPATH=$dir "$bench_bin/taml-benchmark" --data_dir="$data" --episodes=peer \
    --peer_spec="$data/../peer_bench/episodes_spec.json" --iterations=10 --plan="$plan" \
    --out="$prefix.md" --json_out="$prefix.json" "$@" 2>&1) | filter | grep -v "^$" | tail -1
}
# peers_round OUT ROUND: one round of the PyTorch peers (../shared/peer_bench/run.sh, float32,
# 2 threads, 10 iterations), labelled r<ROUND>, its table in OUT/peers_r<ROUND>.txt; their JSON
# rows go to $PEER_WORK/results.jsonl (peer_bench's own record).
peers_round() {
  LABELS=r$2 ITERS=10 bash "${TAML_DATA_DIR:-/work/shared/data}/../peer_bench/run.sh" 2>&1 |
    tee "$1/peers_r$2.txt"
}
# plan_for A|B: the sittings' plan for task shape A or B (Bayesian TAML train, MAML train,
# Bayesian TAML meta-test).
plan_for() {
  case "$1" in
    A) echo "$A:train,$M:train,$A:test" ;;
    B) echo "$B:train,$N:train,$B:test" ;;
    *) echo "plan_for: no plan $1 (A or B)" >&2; return 1 ;;
  esac
}
# alternate ROUNDS OUT_PREFIX A|B NAME=DIR...: one lever measured alone, its codes taking turns:
# each round runs `bench_from` once per code, in the order given, into
# OUT_PREFIX<NAME>_r<round>.md/.json, with a timestamp before each run and after the last.
alternate() {
  local rounds=$1 prefix=$2 plan r item
  plan=$(plan_for "$3") || return 1
  shift 3
  for r in $(seq 1 "$rounds"); do
    for item in "$@"; do
      date -Is
      bench_from "${item#*=}" "$prefix${item%%=*}_r$r" "$plan"
    done
  done
  date -Is
}
# flip ROUND ITEM...: the items one per line, in the order given in odd rounds and reversed in
# even ones (the turn-taking of every before/after measurement: neither code always runs first).
flip() {
  local r=$1 i
  shift
  if [ $((r % 2)) = 0 ]; then
    for ((i = $#; i >= 1; i--)); do printf '%s\n' "${!i}"; done
  else
    printf '%s\n' "$@"
  fi
}
# turns ROUNDS PLAN BEFORE AFTER: one lever measured alone, the code in folder BEFORE and the
# one in AFTER taking turns (AFTER first in even rounds), each running PLAN once per round into
# "$out/before_r<round>" and "$out/after_r<round>" (.md/.json), a timestamp before each run and
# after the last.
turns() {
  local rounds=$1 plan=$2 before=$3 after=$4 r item codes
  for r in $(seq 1 "$rounds"); do
    mapfile -t codes < <(flip "$r" "before=$before" "after=$after")
    for item in "${codes[@]}"; do
      date -Is
      bench_from "${item#*=}" "$out/${item%%=*}_r$r" "$plan"
    done
  done
  date -Is
}
# sitting ROUNDS BEFORE AFTER: the side-by-side sitting of a lever, into "$out": each round the
# peers (`peers_round`), then the code in BEFORE and the code in AFTER (their order flipped in
# even rounds), every plan (training and meta-test, A and B), into sitting_<before|after>_r<N>;
# the sitting's rows of the peers' JSON into peers.jsonl.
sitting() {
  local rounds=$1 before=$2 after=$3 r item codes
  local plan="$A:train,$B:train,$M:train,$N:train,$A:test,$B:test"
  for r in $(seq 1 "$rounds"); do
    date -Is
    peers_round "$out" "$r"
    mapfile -t codes < <(flip "$r" "before=$before" "after=$after")
    for item in "${codes[@]}"; do
      date -Is
      bench_from "${item#*=}" "$out/sitting_${item%%=*}_r$r" "$plan"
    done
  done
  tail -n "$((6 * rounds))" "${PEER_WORK:-/tmp/peer_work}/results.jsonl" > "$out/peers.jsonl"
  date -Is
}
