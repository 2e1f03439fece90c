#!/usr/bin/env bash
# Meta-test (Bayesian TAML, shape A, 10 Monte-Carlo samples x 10 inner steps) compiled with XLA
# against the default tf.function, taking turns, every other process of ours stopped
# (quiet_sitting.sh). The package's own episodes (--episodes=paper): the peers' episodes have no
# static shapes, which XLA needs. Writes <execution>_r<round>.md into this folder.
# Usage: bash docs/benchmarks/2026-12-06_metatest_xla/probe.sh   (from the checkout's root)
set -uo pipefail
out="$(cd "$(dirname "$0")" && pwd)"
source docs/benchmarks/quiet_sitting.sh
round=1
for ex in function xla function xla; do
  date -u
  .venv/bin/taml-benchmark --data_dir="${TAML_DATA_DIR:-/work/shared/data}" --episodes=paper \
    --iterations=10 --plan=A:bayesian_taml:second:$ex:test --out="$out/${ex}_r$round.md" 2>&1 \
    | filter | tail -2
  [ "$ex" = xla ] && round=$((round + 1))
done
date -u
