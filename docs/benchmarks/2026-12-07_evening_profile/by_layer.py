"""Issue 39: a profiler trace's op time per op type and conv4 block (the 2026-12-07 evening's
float32 meta-test B profile; docs/performance.md, "Levers measured on 2026-12-07 (evening)").

`taml-benchmark --profile_dir` sums op time per op type; this splits the largest types by the
block they belong to, read from the op names of the traced graph: the forward ops of inner step
s and block b are named `<type>_<4 s + b>` (the first `<type>`), their gradients carry the
forward op's name, except FusedBatchNormGradV3 and ReluGrad, whose own numbering runs backward
through the blocks (the tape creates the last block's gradient first).
Usage: python by_layer.py TRACE_DIR CALLS   (CALLS: the profiled calls, --profile_calls)
"""
import re
import sys

from taml_tf.products import profiling

BLOCKS = 4
_NUMBERED = re.compile(r'(convolution|FusedBatchNormV3|FusedBatchNormGradV3|MaxPool2d|Relu|'
                       r'ReluGrad)(?:_(\d+))?(?:/|$)')


def block_of(name: str):
  """The conv4 block (0-3) an op of the inner loop belongs to, or '-' for other ops."""
  if 'set_encoder' in name:
    return 'encoder'
  match = _NUMBERED.search(name.split('//')[-1])
  if not match:
    return '-'
  index = int(match.group(2) or 0) % BLOCKS
  return BLOCKS - 1 - index if match.group(1) in ('FusedBatchNormGradV3', 'ReluGrad') else index


def main(trace_dir: str, calls: int):
  # Self time per (op type, block): profiling.op_times, grouped by the op's name too.
  times = profiling.op_times(trace_dir, calls,
                             key=lambda name, op_type: (op_type, block_of(name)))
  total = times.busy_seconds
  print('| op type | block | ms per call | share of op time | ops per call |')
  print('|---|---|---|---|---|')
  for (op_type, block), s in sorted(times.seconds.items(), key=lambda kv: -kv[1])[:24]:
    print(f'| {op_type} | {block} | {1e3 * s / calls:.1f} | {100 * s / total:.1f}% | '
          f'{times.counts[op_type, block] // calls} |')


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]))
