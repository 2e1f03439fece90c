#!/usr/bin/env bash
# Issue 39: where a step's time goes under today's default (thread pools (2, 1), batch norm in
# closed form), to choose the next lever: `taml-benchmark --profile_dir` traces 3 train steps
# of Bayesian TAML (peer A and B tasks, float32) and a meta-test A, every other process of ours
# stopped, and sums the ops' self time per op type (profile.md / profile.json here; the traces
# themselves stay in a temporary folder: TensorBoard's Profile tab opens them).
# Usage: bash docs/benchmarks/2026-12-05_profile/profile.sh   (from the repository root)
set -uo pipefail
out=$PWD/docs/benchmarks/2026-12-05_profile
source "$PWD/docs/benchmarks/quiet_sitting.sh"
trace=$(mktemp -d)
date -Is
.venv/bin/taml-benchmark --data_dir="${TAML_DATA_DIR:-/work/shared/data}" --episodes=peer \
  --peer_spec="${TAML_DATA_DIR:-/work/shared/data}/../peer_bench/episodes_spec.json" \
  --iterations=3 --plan="$A:train,$B:train,$A:test" --profile_dir="$trace" \
  --out="$out/profile.md" --json_out="$out/profile.json" 2>&1 | filter | grep -v "^$" | tail -3
date -Is
rm -rf "$trace"
