"""Where a step's time goes: a TensorBoard profiler trace, summed per TensorFlow op type.

:func:`trace` records a trace of a few calls of a step with ``tf.profiler.experimental`` (the
folder opens in TensorBoard's profile plugin); :func:`op_times` reads the trace back and sums
each op type's *self* time (an op's time minus the ops nested in it, such as the body of a
function call), so the column adds up to the time the executor's threads spent in kernels;
:func:`categories` groups the op types into convolution / matmul, pooling, element-wise and
reductions, and the rest. taml-benchmark's ``--profile_dir`` writes both tables.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import re
import time
import typing

import tensorflow as tf

# Op-type groups for the summary, matched on the op type with oneDNN's '_Mkl' / '_MklNative'
# prefixes, 'Fused' variants and 'WithBias' suffixes folded in (see :func:`_base_type`).
CATEGORIES = (
    ('convolution', ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter',
                     'DepthwiseConv2dNative')),
    ('matmul', ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Einsum')),
    ('pooling', ('MaxPool', 'MaxPoolGrad', 'MaxPoolGradGrad', 'MaxPoolGradV2',
                 'MaxPoolGradGradV2', 'AvgPool', 'AvgPoolGrad')),
    ('reductions', ('Sum', 'Mean', 'Max', 'Min', 'Prod', 'ArgMax', 'All', 'Any')),
    ('data movement', ('Cast', 'Reshape', 'Transpose', 'ConcatV2', 'Pack', 'Unpack', 'Slice',
                       'StridedSlice', 'StridedSliceGrad', 'GatherV2', 'Where', 'Identity',
                       'Tile', 'Pad', 'PadV2', 'Fill', 'ZerosLike', 'OnesLike', 'Split',
                       'SplitV', 'BroadcastTo', 'ExpandDims', 'Squeeze', 'Shape',
                       'TensorListGetItem', 'TensorListSetItem', 'TensorListFromTensor',
                       'TensorListStack', 'TensorListReserve', 'Const', 'ReadVariableOp')),
    ('control flow', ('While', 'StatelessWhile', 'If', 'StatelessIf', 'PartitionedCall',
                      'StatefulPartitionedCall', 'Enter', 'Exit', 'Merge', 'Switch',
                      'NextIteration', 'LoopCond', '_Recv', '_Send')),
)
_ELEMENTWISE = 'element-wise'
# An op's event: '<op name>:<op type>' ('model/conv1/Conv2D:_MklNativeConv2D'); the Python
# thread's 'EagerLocalExecute: __inference_step' and 'ThreadpoolListener::Record' are not ops.
_OP_EVENT = re.compile(r'^([^\s:]+):([A-Za-z_][A-Za-z0-9_]*)$')


@dataclasses.dataclass(frozen=True)
class OpTimes:
  """Op-type self times summed over a trace.

  Attributes:
    seconds: op type (or the key :func:`op_times` was given) -> self seconds, over every op
      of the trace.
    counts: op type (or key) -> number of ops run.
    calls: the step calls traced (divide by it for per-step figures).
    wall_seconds: wall time of the traced calls.
  """

  seconds: dict
  counts: dict
  calls: int
  wall_seconds: float

  @property
  def busy_seconds(self) -> float:
    """Total self time of every op (may exceed the wall time: ops run side by side)."""
    return float(sum(self.seconds.values()))


def _base_type(op_type: str) -> str:
  """The op type without oneDNN's decorations: '_MklNativeConv2DBackpropFilterWithBias' ->
  'Conv2DBackpropFilter', '_MklNativeFusedConv2D' -> 'Conv2D', '_MklBatchMatMulV2' ->
  'BatchMatMulV2'."""
  for prefix in ('_MklNative', '_Mkl', 'Fused'):
    if op_type.startswith(prefix) and len(op_type) > len(prefix):
      op_type = op_type[len(prefix):]
  if op_type.endswith('WithBias'):
    op_type = op_type[:-len('WithBias')]
  return op_type


def category(op_type: str) -> str:
  """The :data:`CATEGORIES` group of an op type; 'element-wise' for anything not listed
  (activations, batch-norm arithmetic, adds and multiplies, and their gradients)."""
  base = _base_type(op_type)
  for name, members in CATEGORIES:
    if base in members:
      return name
  return _ELEMENTWISE


def trace(step: typing.Callable[[], typing.Any], logdir: str, calls: int = 3) -> float:
  """Records a profiler trace of `calls` calls of `step` into `logdir`.

  Args:
    step: a callable running one step; its result is fetched (``.numpy()`` where it has one)
      so that the trace holds the whole step.
    logdir: the trace folder (TensorBoard: ``--logdir=logdir``, Profile tab).
    calls: how many calls to trace.

  Returns:
    Wall seconds of the traced calls.
  """
  if calls < 1:
    raise ValueError(f'calls must be >= 1, got {calls}')
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  try:
    for _ in range(calls):
      out = step()
      tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, out)
  finally:
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
  return wall


def latest_xspace(logdir: str) -> str:
  """Path of the newest ``*.xplane.pb`` under `logdir` (raises FileNotFoundError if none)."""
  paths = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)
  if not paths:
    raise FileNotFoundError(f'no profiler trace (*.xplane.pb) under {logdir}')
  return max(paths, key=os.path.getmtime)


def op_times(path: str, calls: int = 1, wall_seconds: float = float('nan'),
             key: typing.Optional[typing.Callable[[str, str], typing.Hashable]] = None
             ) -> OpTimes:
  """Sums the self time of every TensorFlow op of a trace, per op type (or per `key`).

  The host plane's executor threads record one event per op, named '<op name>:<op type>';
  an op that calls a function (a tf.function, a while loop's body) holds its ops' events
  within its own, so each event's nested events on the same thread are subtracted.

  Args:
    path: an ``.xplane.pb`` file, or a folder holding one (the newest is read).
    calls: the step calls the trace holds (recorded in the result).
    wall_seconds: their wall time (recorded in the result).
    key: `key(op_name, op_type)` -> the group an op's time is summed under; default the op
      type. A finer split (by layer, by inner step) reads the op's name, e.g.
      ``lambda name, op_type: (op_type, 'grad' in name)``.

  Returns:
    An :class:`OpTimes` keyed by op type, or by `key`'s values.

  Raises:
    FileNotFoundError: no trace at `path`.
    ValueError: the file is not a readable trace, or it holds no TensorFlow op.
  """
  # The trace's proto type is private to TensorFlow: tf.profiler.experimental writes .xplane.pb
  # files but has no public reader or message class for them (the profiler plugin's own copy
  # is not a dependency).
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  if os.path.isdir(path):
    path = latest_xspace(path)
  space = xplane_pb2.XSpace()
  try:
    with open(path, 'rb') as f:
      space.ParseFromString(f.read())
  except Exception as e:  # protobuf raises DecodeError, a bare Exception subclass
    raise ValueError(f'{path}: not a profiler trace ({e})') from e
  seconds, counts = collections.defaultdict(float), collections.Counter()

  group = key or (lambda op_name, op_type: op_type)

  def close(item):
    end_ps, group_key, nested_ps, start_ps = item
    seconds[group_key] += max(0, end_ps - start_ps - nested_ps) * 1e-12

  for plane in space.planes:
    if not plane.name.startswith('/host:'):
      continue
    for line in plane.lines:
      ops = []
      for event in line.events:
        match = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
        if not match:
          continue  # threadpool, executor and Python-side bookkeeping, not an op
        ops.append((event.offset_ps, event.offset_ps + event.duration_ps,
                    group(match.group(1), match.group(2))))
      ops.sort(key=lambda o: (o[0], -o[1]))
      # Self time: each op's duration minus that of the ops directly nested in it.
      stack = []  # open ops: [end_ps, group key, nested_ps, start_ps]
      for start_ps, end_ps, group_key in ops:
        while stack and stack[-1][0] <= start_ps:
          close(stack.pop())
        if stack:
          stack[-1][2] += end_ps - start_ps
        stack.append([end_ps, group_key, 0, start_ps])
        counts[group_key] += 1
      while stack:
        close(stack.pop())
  if not counts:
    raise ValueError(f'{path}: the trace holds no TensorFlow op (was the step traced?)')
  return OpTimes(seconds=dict(seconds), counts=dict(counts), calls=int(calls),
                 wall_seconds=float(wall_seconds))


def categories(times: OpTimes) -> dict:
  """Self seconds per :data:`CATEGORIES` group (plus 'element-wise'), largest first."""
  out = collections.defaultdict(float)
  for op_type, s in times.seconds.items():
    out[category(op_type)] += s
  return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def markdown(times: OpTimes, top: int = 12) -> str:
  """Two tables: time per category and the `top` op types, per traced call and as a share
  of the ops' total self time."""
  busy = times.busy_seconds
  per = max(times.calls, 1)
  lines = [f'{times.calls} calls traced, {times.wall_seconds / per:.3f} s wall per call; '
           f'ops busy {busy / per:.3f} s per call ({sum(times.counts.values()) // per} ops '
           'per call)', '',
           '| category | s / call | share |', '|---|---|---|']
  for name, s in categories(times).items():
    lines.append(f'| {name} | {s / per:.3f} | {100 * s / busy:.1f}% |')
  lines += ['', '| op type | s / call | share | ops / call |', '|---|---|---|---|']
  ranked = sorted(times.seconds.items(), key=lambda kv: -kv[1])[:top]
  for op_type, s in ranked:
    lines.append(f'| {op_type} | {s / per:.3f} | {100 * s / busy:.1f}% | '
                 f'{times.counts[op_type] / per:.0f} |')
  return '\n'.join(lines)
