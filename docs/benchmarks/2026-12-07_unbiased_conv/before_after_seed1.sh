#!/usr/bin/env bash
# before_after.sh's check again with seed 1 (both codes), for a second reading of how far the
# lever's rounding change carries over 500 updates. Run beside other work (no process is
# stopped: its steps/s are not read). Results in before_after_seed1/.
# Usage: BEFORE=<worktree> bash docs/benchmarks/2026-12-07_unbiased_conv/before_after_seed1.sh
#   (repository root; env: ROOT, default ~/taml_runs/unbiased_conv_before_after_seed1)
set -euo pipefail
repo=$PWD
out=$repo/docs/benchmarks/2026-12-07_unbiased_conv/before_after_seed1
mkdir -p "$out"
root="${ROOT:-$HOME/taml_runs/unbiased_conv_before_after_seed1}"
before=${BEFORE:?set BEFORE to a worktree of the commit before the lever}
bin=$repo/.venv/bin
source "$repo/docs/benchmarks/before_after_training.sh"
before_after_flags+=(--seed=1)
train_side_by_side "$before" "$repo" "$root" with_biases without_biases "$out"
"$bin/python" "$repo/docs/benchmarks/before_after_table.py" "$root" with_biases \
  without_biases "biases in training, 1cfc5f2" "no biases read" 2>/dev/null > "$out/paired.md"
cat "$out/paired.md"
