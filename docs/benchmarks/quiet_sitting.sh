# Sourced by the dated side_by_side.sh scripts: the set-up every side-by-side sitting shares.
# Stops (SIGSTOP) every other process of ours for as long as the sourcing script runs, and
# resumes them when it exits, sparing the script's own processes; records `lscpu` in "$out";
# defines `filter` (drops TensorFlow's start-up chatter) and the plan names A, B, M, N.
# The caller sets `out`; OTHERS (an extended regex for pgrep -f) may widen what is stopped.
others() { pgrep -f "${OTHERS:-taml_runs/venv/|/work/ci_check|pytest|bazel}" | grep -v -x "$$"; }
freeze() { while true; do others | xargs -r kill -STOP 2>/dev/null; sleep 1; done; }
freeze & FREEZER=$!
trap 'kill $FREEZER; others | xargs -r kill -CONT' EXIT
lscpu > "$out/lscpu.txt"
filter() { grep -v -E "cuda|cuInit|absl::InitializeLog|rebuild TensorFlow|oneDNN custom"; }
A=A:bayesian_taml:second:function; B=B:bayesian_taml:second:function
M=A:maml:second:function; N=B:maml:second:function
