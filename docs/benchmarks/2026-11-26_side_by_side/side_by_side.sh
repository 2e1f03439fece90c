#!/usr/bin/env bash
# Peers and taml-tf alternated on an otherwise idle machine (other jobs are SIGSTOPped).
set -uo pipefail
export PEER_WORK=$HOME/peer_work TAML_DATA_DIR=/work/shared/data
others() {
  pgrep -f '/work/wt/(core|org)/|taml_runs/venv|/work/ci_check|pytest|bazel'
  for p in $(pgrep -f 'python|bazel|java'); do
    case "$(readlink /proc/$p/cwd 2>/dev/null)" in /work/wt/core*|/work/wt/org*|/tmp/*test*) echo $p;; esac
  done
}
freeze() { while true; do others | xargs -r kill -STOP 2>/dev/null; sleep 1; done; }
freeze & FREEZER=$!
trap 'kill $FREEZER; others | xargs -r kill -CONT; pkill -CONT -f python' EXIT
lscpu > $PEER_WORK/lscpu.txt
PLAN=A:bayesian_taml:second:function:train,B:bayesian_taml:second:function:train,A:bayesian_taml:second:function:test,B:bayesian_taml:second:function:test,A:maml:second:function:train,B:maml:second:function:train
for round in r1 r2; do
  date -Is
  LABELS=$round ITERS=10 bash /work/shared/peer_bench/run.sh
  date -Is
  /work/wt/perf/.venv/bin/taml-benchmark --data_dir=/work/shared/data --episodes=peer \
    --peer_spec=/work/shared/peer_bench/episodes_spec.json --iterations=10 --plan=$PLAN \
    --out=$PEER_WORK/taml_$round.md --json_out=$PEER_WORK/taml_$round.json 2>&1 | grep -v -E "cuda|cuInit|absl::InitializeLog|AVX2 FMA|rebuild TensorFlow"
done
date -Is
