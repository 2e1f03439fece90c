"""Throughput, memory and FLOP measurements of the meta-learner.

One measurement = one configuration (shape, variant, first/second order, execution mode,
meta-training or meta-test) run in its own process, so peak resident memory is that
configuration's. The same episodes are used every run.

Shapes (the paper's settings):
  A: 28x28x1, 5-way, shots 1..15 per class, 5 queries per class, meta-batch 4;
  B: 32x32x3, 5-way, shots 1..50, 15 queries per class, meta-batch 4.

Episodes: 'paper' draws the paper's mixed mode from real data (fixed sampler seed); 'peer'
reads the task sizes of the PyTorch peers' harness (``episodes_spec.json`` of
``shared/peer_bench``: per-class shots uniform in 1..max_shot, uniform-noise pixels from
``numpy.random.RandomState(data_seed)``), so both sides time the same tasks. The reported
`mean_real_support_per_task` shows the task sizes really used.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import resource
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from taml_tf import data
from taml_tf.execution import execution_config
from taml_tf.method import config as config_lib
from taml_tf.method import episodes
from taml_tf.method.learner import MetaLearner
from taml_tf.method.precision import CPU_FLAGS, cpu_info  # Part of this module's reporting API.
from taml_tf.products import profiling

SHAPES = {
    'A': dict(image_shape=(28, 28, 1), max_shot=15, query=5),
    'B': dict(image_shape=(32, 32, 3), max_shot=50, query=15),
}
META_BATCH, WAY = 4, 5
# Shots of every class in the FLOP count's unpadded tasks (about the mixed mode's mean).
FLOP_SHOTS = {'A': 8, 'B': 25}
EXECUTIONS = ('function', 'sequential', 'xla', 'eager')
EPISODES = ('paper', 'peer')
# Which meta-gradient a measurement computes (Spec.order).
ORDERS = ('second', 'first', 'authors')


def _status_mb(field: str) -> float:
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1]) / 1024.0
  raise RuntimeError(f'{field} not found in /proc/self/status')


def current_rss_mb() -> float:
  """This process's resident memory now (MB), from /proc/self/status."""
  return _status_mb('VmRSS')


def reset_peak_rss() -> bool:
  """Restarts the kernel's peak-RSS count (VmHWM) at the current RSS; False if it cannot.

  The peak of a whole process includes the warm-up: tracing and graph optimisation of a
  second-order graph take memory that the steps themselves never need again. Resetting after
  the warm-up lets :func:`peak_rss_since_reset_mb` measure the steps alone (Linux
  /proc/self/clear_refs, value 5). It also restarts getrusage's ``ru_maxrss``: read the
  whole-process peak before calling it.
  """
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def peak_rss_since_reset_mb() -> float:
  """Peak resident memory (MB) since :func:`reset_peak_rss` (or since the start)."""
  return _status_mb('VmHWM')


def peer_episodes(spec_path: str, shape: str, phase: str, count: int) -> list:
  """Batched Episodes with the task sizes and pixels of the PyTorch peers' harness.

  Args:
    spec_path: ``episodes_spec.json`` of ``shared/peer_bench``.
    shape: 'A' or 'B'.
    phase: 'train' (meta-batches of its training iterations) or 'test' (single tasks).
    count: how many, starting with the harness's first timed one, after one warm-up batch.

  Returns:
    count + 1 numpy Episodes (the first is the warm-up), unpadded (support = the task's real
    rows), labels grouped by class as the harness lays them out.

  Raises:
    ValueError: if the file asks for more than it holds or its shape differs from SHAPES.
  """
  with open(spec_path) as f:
    spec = json.load(f)['shapes'][shape]
  s = SHAPES[shape]
  size, channels = s['image_shape'][0], s['image_shape'][2]
  if (spec['image_size'], spec['channels'], spec['max_shot'], spec['query_per_class'],
      spec['n_way']) != (size, channels, s['max_shot'], s['query'], WAY):
    raise ValueError(f'{spec_path}: shape {shape} differs from taml-tf\'s {s}')

  def task(shots, data_seed):
    rs = np.random.RandomState(data_seed)
    way, q = len(shots), spec['query_per_class']
    support = rs.rand(sum(shots), channels, size, size).astype(np.float32)
    query = rs.rand(way * q, channels, size, size).astype(np.float32)
    return episodes.from_arrays(
        support.transpose(0, 2, 3, 1), np.repeat(np.arange(way), shots),
        query.transpose(0, 2, 3, 1), np.repeat(np.arange(way), q), max_way=WAY)

  if phase == 'train':
    plan = spec['train_support_shots']
    first = next(i for i, it in enumerate(plan) if it['timed'])
    chosen = [plan[first - 1]] + plan[first:first + count]
    batches = [[task(t['support_shots'], t['data_seed']) for t in it['tasks']] for it in chosen]
  else:
    plan = spec['test_support_shots']
    first = next(i for i, t in enumerate(plan) if t['timed'])
    chosen = [plan[first - 1]] + plan[first:first + count]
    batches = [[task(t['support_shots'], t['data_seed'])] for t in chosen]
  if len(chosen) < count + 1:
    raise ValueError(f'{spec_path} holds {len(chosen) - 1} timed {phase} items, asked {count}')
  out = []
  for tasks in batches:
    # One padded length per meta-batch (its largest task); the learner drops the padding.
    longest = max(t.support_images.shape[0] for t in tasks)
    out.append(episodes.stack([episodes.from_arrays(
        t.support_images, t.support_labels, t.query_images, t.query_labels, max_way=WAY,
        support_size=longest) for t in tasks]))
  return out


@dataclasses.dataclass(frozen=True)
class Spec:
  """One measurement.

  Attributes:
    shape: 'A' or 'B'.
    variant: a ModelConfig variant ('bayesian_taml', 'maml', ...).
    order: 'second' (the exact meta-gradient), 'first' (first-order MAML) or 'authors' (the
      authors' training gradient: no second-order terms through the inner steps' batch-norm
      backward, ``ModelConfig.bn_second_order=False``).
    execution: 'function' (tf.function, bucketed padding dropped per task, one trace for all
      sizes, one graph for the meta-batch), 'sequential' (the same with the meta-batch's tasks
      differentiated one after another: sequential_tasks=True), 'xla' (jit_compile, fixed max
      padding) or 'eager'.
    phase: 'train' (one meta-update over the meta-batch, 5 inner steps) or 'test' (one task,
      10 inner steps, 10 Monte-Carlo samples for Bayesian variants, the mean otherwise).
    iterations: timed iterations after the warm-up.
    episodes: 'paper' (mixed mode from real data) or 'peer' (the peers' task sizes; needs
      `peer_spec`).
    peer_spec: path of the peers' ``episodes_spec.json``.
    precision: ``ExecutionConfig.precision`` ('float32' or 'mixed_bfloat16').
    recompute: ``ExecutionConfig.recompute`` (inner-step activations recomputed).
    authors_padding: ``ModelConfig.authors_padding`` (the authors' zero rows, counted).
    profile_dir: if set, after the timed iterations a profiler trace of `profile_calls`
      more iterations is written there and summed per op type (taml_tf.products.profiling).
    profile_calls: iterations traced with `profile_dir`.
  """

  shape: str = 'A'
  variant: str = 'bayesian_taml'
  order: str = 'second'
  execution: str = 'function'
  phase: str = 'train'
  iterations: int = 6
  episodes: str = 'paper'
  peer_spec: str | None = None
  precision: str = 'float32'
  recompute: bool = False
  authors_padding: bool = False
  profile_dir: str | None = None
  profile_calls: int = 3


# The inner steps and Monte-Carlo samples of a measured train step and meta-test task.
MEASURED_STEPS = dict(train_inner_steps=5, test_inner_steps=10, n_mc_samples=10)


def _model_config(shape: str, variant: str, order: str, **fields):
  """The ModelConfig of a benchmark shape, variant and gradient order (see :class:`Spec`),
  with further ModelConfig `fields`."""
  s = SHAPES[shape]
  return config_lib.variant(variant, image_shape=s['image_shape'], max_way=WAY,
                            max_shot=s['max_shot'], first_order=order == 'first',
                            bn_second_order=order != 'authors', **fields)


def _source(image_shape, data_dir):
  # Shape A: Omniglot evaluation characters (20 drawings: 1..15 shots + 5 queries fit).
  # Shape B's CIFAR-FS is not on an offline machine, and Omniglot's 20 drawings per class
  # cannot fill 50 shots + 15 queries: MNIST digits (about 1000 per class) resized to 32x32x3
  # give tasks of the same sizes, hence the same cost.
  if image_shape[-1] == 1:
    return data.build_source('omniglot', 'test', image_shape, data_dir)
  return data.build_source('mnist', 'test', image_shape, data_dir)


def measure(spec: Spec, data_dir=None) -> dict:
  """Runs one measurement; returns seconds per iteration (median), rates and memory.

  Memory (MB of resident set): `floor_rss_mb` before the first call (imports, variables, data),
  `warmup_rss_mb` right after it, `peak_rss_mb` the whole process's peak, `above_floor_mb` that
  peak less the floor, and `steps_peak_rss_mb` the timed steps' own peak (NaN where the kernel
  cannot reset the peak).
  """
  if spec.execution not in EXECUTIONS:
    raise ValueError(f'unknown execution {spec.execution!r}; choose one of {EXECUTIONS}')
  if spec.episodes not in EPISODES:
    raise ValueError(f'unknown episodes {spec.episodes!r}; choose one of {EPISODES}')
  if spec.order not in ORDERS:
    raise ValueError(f'unknown order {spec.order!r}; choose one of {ORDERS}')
  if spec.episodes == 'peer' and (spec.execution == 'xla' or not spec.peer_spec):
    raise ValueError("episodes='peer' needs peer_spec and a padding-free execution (not xla)")
  shape = SHAPES[spec.shape]
  xla = spec.execution == 'xla'
  cfg = _model_config(spec.shape, spec.variant, spec.order, **MEASURED_STEPS,
                      authors_padding=spec.authors_padding)
  execution = execution_config.ExecutionConfig(
      jit_compile=xla, sequential_tasks=spec.execution == 'sequential',
      precision=spec.precision, recompute=spec.recompute)
  keras.utils.set_random_seed(0)
  learner, update = execution.build(cfg)
  update.build()
  sampler_cfg = data.SamplerConfig(way=WAY, max_shot=shape['max_shot'], query=shape['query'],
                                   mode='mixed', pad_to=execution.pad_to)
  sampler = data.EpisodeSampler([_source(shape['image_shape'], data_dir)], sampler_cfg, seed=0)
  batch_size = META_BATCH if spec.phase == 'train' else 1
  if spec.episodes == 'peer':
    numpy_batches = peer_episodes(spec.peer_spec, spec.shape, spec.phase, spec.iterations)
  else:
    numpy_batches = [episodes.Episode(*sampler.sample_batch(i * batch_size, batch_size))
                     for i in range(spec.iterations + 1)]
  batches = [episodes.to_tensors(b) for b in numpy_batches]
  # The framework's own floor: imports, the model's variables and the data, before any step.
  floor_rss = current_rss_mb()
  support = sampler_cfg.max_support if execution.static_shapes else None
  seed = tf.constant([0, 0])
  if spec.phase == 'train':
    signature = [episodes.spec(shape['image_shape'], support, sampler_cfg.query_size, WAY,
                               META_BATCH), tf.TensorSpec([2], tf.int32)]
    if spec.execution == 'eager':
      def step(b, s):
        grads, metrics = update.compute_gradients(b, s)
        update.apply_gradients(grads)
        return metrics
    else:
      step = tf.function(update.train_step, input_signature=signature)
    run = lambda b: step(b, seed)['loss'].numpy()
  else:
    mode = 'mean' if cfg.deterministic or not cfg.uses_encoder else 'mc'
    signature = [episodes.spec(shape['image_shape'], support, sampler_cfg.query_size, WAY),
                 tf.TensorSpec([2], tf.int32)]
    predict = lambda t, s: learner.predict(t, s, mode=mode,
                                           static_shapes=execution.static_shapes)[0]
    if spec.execution != 'eager':
      predict = tf.function(predict, input_signature=signature, jit_compile=xla)
    run = lambda b: predict(episodes.Episode(*[x[0] for x in b]), seed).numpy()
  start = time.perf_counter()
  run(batches[0])
  warmup = time.perf_counter() - start
  # Ops of the traced iteration (what the runtime dispatches, before Grappler): deterministic,
  # so a regression shows in it whatever the machine's load.
  traced_fn = step if spec.phase == 'train' else predict
  ops = (None if spec.execution == 'eager' else
         graph_op_counts(traced_fn.get_concrete_function(*signature).graph.as_graph_def()))
  # What the first call leaves resident (tracing, Grappler, the first run's buffers and caches)
  # tells a warm-up's memory from the steps' own, which the peak alone cannot.
  warmup_rss = current_rss_mb()
  # The reset also restarts getrusage's ru_maxrss: the whole-process peak is read before it.
  warmup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
  steps_only = reset_peak_rss()
  times = []
  for b in batches[1:]:
    start = time.perf_counter()
    run(b)
    times.append(time.perf_counter() - start)
  steps_peak = peak_rss_since_reset_mb() if steps_only else float('nan')
  # Read before any profiling, whose trace buffers are not the measurement's memory.
  peak_rss = max(warmup_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
  op_times = None
  if spec.profile_dir:
    timed = iter(batches[1:] * spec.profile_calls)
    wall = profiling.trace(lambda: run(next(timed)), spec.profile_dir, spec.profile_calls)
    traced = profiling.op_times(spec.profile_dir, spec.profile_calls, wall)
    op_times = dict(dataclasses.asdict(traced), categories=profiling.categories(traced))
  median = statistics.median(times)
  real_support = float(np.mean([float(tf.reduce_sum(b.support_mask)) for b in batches[1:]]))
  out = dataclasses.asdict(spec)
  out.update(seconds=median, seconds_all=times, warmup_seconds=warmup,
             tasks_per_second=batch_size / median, peak_rss_mb=peak_rss,
             floor_rss_mb=floor_rss, above_floor_mb=peak_rss - floor_rss,
             warmup_rss_mb=warmup_rss, steps_peak_rss_mb=steps_peak,
             mean_real_support_per_task=real_support / batch_size, op_times=op_times,
             ops_per_iteration=ops and ops['total'],
             top_ops=ops and dict(list(ops.items())[1:7]))
  return out


def count_train_flops(shape: str = 'A', variant: str = 'bayesian_taml', order='second',
                      data_dir=None) -> dict:
  """FLOPs of one meta-update (TF profiler) and its time, on meta-batches without padding.

  The learner drops padded support rows before computing, which leaves the support length
  unknown to the traced graph and the profiler unable to count. So the count uses tasks with
  the same shot for every class (8 on A, 25 on B: about the mixed mode's mean support, 40 /
  125 rows against 36.5 / 116), which need no padding and keep static shapes. The profiler
  counts the registered float operations: convolutions and their gradients, matmuls and
  element-wise ops.
  """
  s = SHAPES[shape]
  cfg = _model_config(shape, variant, order)
  # Nothing to drop in these batches; static shapes let the profiler count.
  execution = execution_config.ExecutionConfig(static_shapes=True)
  keras.utils.set_random_seed(0)
  learner = MetaLearner(cfg)
  shots = FLOP_SHOTS[shape]
  sampler_cfg = data.SamplerConfig(way=WAY, max_shot=shots, min_shot=shots, query=s['query'],
                                   mode='mixed', pad_to=execution.pad_to)
  sampler = data.EpisodeSampler([_source(s['image_shape'], data_dir)], sampler_cfg, seed=0)
  batches = [episodes.to_tensors(episodes.Episode(*sampler.sample_batch(i * META_BATCH,
                                                                        META_BATCH)))
             for i in range(4)]
  fn = tf.function(lambda b, seed: learner.compute_gradients(
      b, seed, static_shapes=execution.static_shapes))
  # Counted on the meta-gradient's definition, every task's ops in one graph: the profiler
  # does not look inside function calls, and compute_gradients (timed below) calls one traced
  # function per task for the same FLOPs.
  unrolled = tf.function(lambda b, seed: learner.batch_gradients(
      b, seed, static_shapes=execution.static_shapes))
  graph = unrolled.get_concrete_function(batches[0], tf.constant([0, 0])).graph
  # TF's one FLOP counter is the graph profiler, public as tf.compat.v1.profiler (TF2's
  # tf.profiler.experimental records traces and counts no FLOPs).
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts['output'] = 'none'
  flops = tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops
  fn(batches[0], tf.constant([0, 0]))
  times = []
  for b in batches[1:]:
    start = time.perf_counter()
    fn(b, tf.constant([0, 0]))[1]['loss'].numpy()
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  return dict(shape=shape, variant=variant, order=order, shots=shots, flops=int(flops),
              seconds=seconds, gflops_per_second=flops / seconds / 1e9)


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
  """This machine's float32 matrix-multiply rate in GFLOP/s (n x n times n x n)."""
  a = tf.random.stateless_normal([n, n], seed=[1, 2])
  b = tf.random.stateless_normal([n, n], seed=[3, 4])
  fn = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
  fn(a, b).numpy()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn(a, b).numpy()
    times.append(time.perf_counter() - start)
  return 2.0 * n ** 3 / statistics.median(times) / 1e9


def graph_op_counts(graph_def) -> dict:
  """Op types of a traced graph and of the functions it calls, counted once per call site.

  A tf.function's gradient tapes build their backward ops into the same graph, so a train
  step's graph holds the forward pass, the inner loop's first-order gradients and the outer
  tape's second-order ones. Functions it calls (a ``PartitionedCall``, a ``While`` body, a
  Keras layer traced apart) are looked up in the graph's function library and counted where
  they are called; a while loop's body counts once, whatever its trip count.

  Args:
    graph_def: a ``GraphDef`` (``concrete_function.graph.as_graph_def()``).

  Returns:
    {op type: count}, most frequent first, with 'total' (every counted node, Const and
    NoOp included) first.
  """
  library = {f.signature.name: f for f in graph_def.library.function}
  counts = collections.Counter()

  def visit(nodes, depth):
    if depth > 64:
      raise ValueError('function calls nested deeper than 64: a recursive library?')
    for node in nodes:
      counts[node.op] += 1
      if node.op in library:  # a function called directly by name
        visit(library[node.op].node_def, depth + 1)
      for value in node.attr.values():
        names = ([value.func.name] if value.HasField('func') else
                 [f.name for f in value.list.func])
        for name in names:
          if name in library:
            visit(library[name].node_def, depth + 1)

  visit(graph_def.node, 0)
  ordered = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
  return {'total': sum(counts.values()), **ordered}


def _grappler_graph_def(concrete):
  """`concrete`'s graph after Grappler's default passes (what the runtime would execute,
  before oneDNN's own rewrites): constant folding, arithmetic and dependency optimisation."""
  from tensorflow.core.protobuf import config_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import meta_graph_pb2  # pylint: disable=g-import-not-at-top
  # Private: TensorFlow has no public API that runs Grappler on a graph and returns it.
  from tensorflow.python.grappler import tf_optimizer  # pylint: disable=g-import-not-at-top
  graph = concrete.graph
  meta = tf.compat.v1.train.export_meta_graph(graph_def=graph.as_graph_def(), graph=graph)
  fetches = meta_graph_pb2.CollectionDef()
  for t in list(concrete.outputs) + list(graph.control_outputs):
    fetches.node_list.value.append(t.name)
  meta.collection_def['train_op'].CopyFrom(fetches)
  return tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), meta, graph_id=b'ops_per_step')


def traced_train_step(shape: str = 'A', variant: str = 'bayesian_taml', order: str = 'second',
                      execution: str = 'function', **execution_fields):
  """One meta-update (train step) traced as :func:`measure` runs it, for reading its graph.

  ``MetaUpdate.train_step`` in a tf.function over a meta-batch of 4 shape-`shape` tasks, 5
  inner steps, traced from its input signature alone: no data is read and nothing runs. In the
  'function' execution the tasks' padding is dropped, so the graph is the same for every task
  size (the peers' task A included). What :func:`ops_per_step` counts; also the start of any
  other look at the step's graph (which ops, dtypes or shapes it holds).

  Args:
    shape, variant, order: as in :class:`Spec`.
    execution: 'function', 'sequential' or 'xla' (the traced graph, before XLA compiles it).
    **execution_fields: further ExecutionConfig fields (precision, recompute, ...).

  Returns:
    The step's ``ConcreteFunction`` (its ``.graph`` holds the traced ops).

  Raises:
    ValueError: `execution` is not a traced one.
  """
  if execution not in EXECUTIONS or execution == 'eager':
    raise ValueError(f'a traced train step needs a traced execution, not {execution!r}')
  s = SHAPES[shape]
  cfg = _model_config(shape, variant, order, **MEASURED_STEPS)
  config = execution_config.ExecutionConfig(
      jit_compile=execution == 'xla', sequential_tasks=execution == 'sequential',
      **execution_fields)
  keras.utils.set_random_seed(0)
  _, update = config.build(cfg)
  update.build()
  support = WAY * s['max_shot'] if config.static_shapes else None
  query = WAY * s['query']
  signature = [episodes.spec(s['image_shape'], support, query, WAY, META_BATCH),
               tf.TensorSpec([2], tf.int32)]
  return tf.function(update.train_step, input_signature=signature).get_concrete_function()


def ops_per_step(shape: str = 'A', variant: str = 'bayesian_taml', order: str = 'second',
                 execution: str = 'function', grappler: bool = False, **execution_fields) -> dict:
  """Ops of one traced meta-update (train step), by op type: deterministic, unlike seconds.

  Args:
    shape, variant, order, execution, **execution_fields: as in :func:`traced_train_step`.
    grappler: count the graph after Grappler's default optimisations (slower: tens of
      seconds for a second-order step) instead of as traced.

  Returns:
    :func:`graph_op_counts` of the step's graph.

  Raises:
    ValueError: `execution` is not a traced one.
  """
  concrete = traced_train_step(shape, variant, order, execution, **execution_fields)
  graph_def = _grappler_graph_def(concrete) if grappler else concrete.graph.as_graph_def()
  return graph_op_counts(graph_def)
