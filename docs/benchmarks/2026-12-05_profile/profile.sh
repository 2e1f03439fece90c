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
bench_from "$PWD" "$out/profile" "$A:train,$B:train,$A:test" --iterations=3 --profile_dir="$trace"
date -Is
rm -rf "$trace"
