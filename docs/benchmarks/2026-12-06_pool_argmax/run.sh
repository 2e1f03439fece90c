#!/usr/bin/env bash
# Runs pool_second_order.py twice with every other process of ours stopped (quiet_sitting.sh);
# output in pool_second_order.txt, lscpu in lscpu.txt. Usage: bash run.sh (from the repo root).
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)"
source docs/benchmarks/quiet_sitting.sh
for r in 1 2; do
  echo "round $r $(date -u +%FT%TZ)"
  .venv/bin/python "$out/pool_second_order.py" 2>&1 | filter | grep -v "^WARNING"
done > "$out/pool_second_order.txt"
