#!/usr/bin/env bash
# pool_second_order.py under the train step's thread pools (inter-op 2, intra-op 1), every
# other process of ours stopped (quiet_sitting.sh). Usage: bash run_probe.sh (any folder).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="$here"
source "$repo/docs/benchmarks/quiet_sitting.sh"
{ date -Is; TF_NUM_INTEROP_THREADS=2 TF_NUM_INTRAOP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2 \
  "$repo/.venv/bin/python" "$here/pool_second_order.py" 2> >(filter >&2); date -Is; } |
  tee "$out/pool_second_order.txt"
