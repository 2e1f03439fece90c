"""Issue 39: a profiler trace's op time per op type and conv4 block (the 2026-12-07 evening's
float32 meta-test B profile; docs/performance.md, "Levers measured on 2026-12-07 (evening)").

`taml-benchmark --profile_dir` sums op time per op type; this splits the largest types by the
block they belong to, read from the op names of the traced graph: the forward ops of inner step
s and block b are named `<type>_<4 s + b>` (the first `<type>`), their gradients carry the
forward op's name, except FusedBatchNormGradV3 and ReluGrad, whose own numbering runs backward
through the blocks (the tape creates the last block's gradient first).
Usage: python by_layer.py TRACE_DIR CALLS   (CALLS: the profiled calls, --profile_calls)
"""
import collections
import glob
import re
import sys

from tensorflow.tsl.profiler.protobuf import xplane_pb2

BLOCKS = 4
_OP_EVENT = re.compile(r'^([^\s:]+):([A-Za-z_][A-Za-z0-9_]*)$')  # name:type, as profiling.py
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
  path = sorted(glob.glob(f'{trace_dir}/**/*.xplane.pb', recursive=True))[-1]
  space = xplane_pb2.XSpace()
  with open(path, 'rb') as f:
    space.ParseFromString(f.read())
  seconds, counts = collections.defaultdict(float), collections.Counter()
  for plane in space.planes:
    if not plane.name.startswith('/host:'):
      continue
    for line in plane.lines:
      ops = []
      for event in line.events:
        match = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
        if match:
          ops.append((event.offset_ps, event.offset_ps + event.duration_ps,
                      (match.group(2), block_of(match.group(1)))))
      # Self time, as taml_tf.products.profiling: an op's duration less its nested ops'.
      ops.sort(key=lambda o: (o[0], -o[1]))
      stack = []  # [end_ps, key, nested_ps, start_ps]
      for start, end, key in ops + [(float('inf'), float('inf'), None)]:
        while stack and stack[-1][0] <= start:
          top = stack.pop()
          seconds[top[1]] += max(0, top[0] - top[3] - top[2]) * 1e-12
        if key is None:
          break
        if stack:
          stack[-1][2] += end - start
        stack.append([end, key, 0, start])
        counts[key] += 1
  total = sum(seconds.values())
  print('| op type | block | ms per call | share of op time | ops per call |')
  print('|---|---|---|---|---|')
  for (op_type, block), s in sorted(seconds.items(), key=lambda kv: -kv[1])[:24]:
    print(f'| {op_type} | {block} | {1e3 * s / calls:.1f} | {100 * s / total:.1f}% | '
          f'{counts[op_type, block] // calls} |')


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]))
