#!/usr/bin/env bash
# Issue 39: the batch-norm statistics as moments (moments.patch) measured in the train step:
# this checkout ("before") and a copy of it with moments.patch applied ("after") take turns
# (the order flipped in round 2), each running Bayesian TAML train A and B (float32), B in
# mixed_bfloat16 and MAML train A; peer episodes, medians of 10, every other process of ours
# stopped (quiet_sitting.sh), the default thread pools. Ran 14:24-14:40 UTC.
# Usage: AFTER=<copy with moments.patch applied> bash docs/benchmarks/2026-12-07_bn_moments/probe.sh
#   (repository root)
set -uo pipefail
root=$PWD
out=$root/docs/benchmarks/2026-12-07_bn_moments
after=${AFTER:?set AFTER to a copy of the code with moments.patch applied}
export TAML_DATA_DIR=${TAML_DATA_DIR:-/work/shared/data}
source "$root/docs/benchmarks/quiet_sitting.sh"
plan="$A:train,$B:train,$B:train:mixed_bfloat16,$M:train"
turns 2 "$plan" "$root" "$after"
