"""Tests of the benchmark: its memory readings, the peers' episodes and a profiled measurement."""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from taml_tf.products import benchmarking
from tests import real_data

PEER_SPEC = os.path.join('..', 'peer_bench', 'episodes_spec.json')


class MemoryTest(tf.test.TestCase):

  def test_current_rss_is_this_process(self):
    before = benchmarking.current_rss_mb()
    block = np.ones(64 * 2**20 // 8)  # 64 MB of float64, touched.
    self.assertGreater(benchmarking.current_rss_mb() - before, 50.0)
    del block

  def test_peak_of_the_steps_excludes_what_came_before(self):
    block = np.ones(256 * 2**20 // 8)  # 256 MB, touched, then returned to the system.
    del block
    whole = benchmarking.peak_rss_since_reset_mb()
    self.assertTrue(benchmarking.reset_peak_rss())
    after = benchmarking.peak_rss_since_reset_mb()
    self.assertLess(after, whole - 200.0)
    block = np.ones(64 * 2**20 // 8)
    self.assertGreater(benchmarking.peak_rss_since_reset_mb() - after, 50.0)
    del block

  def test_the_warm_up_reading_follows_the_first_call(self):
    # In a fresh process: in this one, earlier tests' freed memory is reused (or handed back)
    # during the warm-up, so its growth over the floor says nothing.
    folder = real_data.require('omniglot_28x28.npz')
    code = ('import json, sys\n'
            'from taml_tf.products import benchmarking as b\n'
            "out = b.measure(b.Spec(shape='A', variant='maml', phase='test', iterations=1),"
            ' sys.argv[1])\n'
            "print(json.dumps([out[k] for k in ('floor_rss_mb', 'warmup_rss_mb', 'peak_rss_mb')]))")
    proc = subprocess.run([sys.executable, '-c', code, folder], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2',
                                   PYTHONPATH=os.pathsep.join(sys.path)), check=False)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    floor, warmup, peak = json.loads(proc.stdout.strip().splitlines()[-1])
    # The first call (tracing, Grappler, the first run) leaves memory resident above the floor,
    # and no reading exceeds the whole process's peak.
    self.assertGreater(warmup - floor, 10.0)
    self.assertLessEqual(warmup, peak)


class PeerEpisodesTest(tf.test.TestCase):
  """The peers' harness draws shots per task and noise pixels from documented seeds: the
  benchmark must time exactly those tasks."""

  def test_train_batches_follow_the_spec(self):
    path = os.path.join(real_data.require(PEER_SPEC), PEER_SPEC)
    batches = benchmarking.peer_episodes(path, 'A', 'train', 2)
    self.assertLen(batches, 3)  # one warm-up + two timed meta-batches
    # The spec's first timed iteration is iteration 3; its tasks have these shots.
    with open(path) as f:
      plan = json.load(f)['shapes']['A']['train_support_shots']
    for batch, it in zip(batches, plan[2:5]):
      self.assertEqual(batch.support_images.shape[0], 4)
      for t, task in enumerate(it['tasks']):
        shots = np.bincount(batch.support_labels[t][batch.support_mask[t] > 0], minlength=5)
        self.assertEqual(shots.tolist(), task['support_shots'])
        self.assertEqual(int(batch.query_mask[t].sum()), 25)
    # Pixels: numpy.random.RandomState(data_seed).rand(support, C, H, W), NCHW -> NHWC.
    task = plan[3]['tasks'][1]
    expected = np.random.RandomState(task['data_seed']).rand(
        task['support_total'], 1, 28, 28).astype(np.float32).transpose(0, 2, 3, 1)
    got = batches[1].support_images[1][:task['support_total']]
    self.assertAllEqual(got, expected)

  def test_test_tasks_and_shape_check(self):
    path = os.path.join(real_data.require(PEER_SPEC), PEER_SPEC)
    batches = benchmarking.peer_episodes(path, 'B', 'test', 3)
    self.assertEqual([b.support_images.shape[:2] for b in batches],
                     [(1, 52), (1, 76), (1, 125), (1, 129)])
    self.assertEqual(batches[0].support_images.shape[2:], (32, 32, 3))
    with self.assertRaisesRegex(ValueError, 'holds 10 timed test items, asked 11'):
      benchmarking.peer_episodes(path, 'B', 'test', 11)


class ProfiledMeasurementTest(tf.test.TestCase):

  def test_a_profiled_measurement_says_where_its_time_goes(self):
    folder = real_data.require('omniglot_28x28.npz')
    trace = os.path.join(self.get_temp_dir(), 'trace')
    spec = benchmarking.Spec(shape='A', variant='maml', phase='test', iterations=1,
                             profile_dir=trace, profile_calls=1)
    out = benchmarking.measure(spec, folder)
    t = out['op_times']
    self.assertEqual(t['calls'], 1)
    self.assertGreater(t['wall_seconds'], 0)
    # MAML's meta-test: 10 inner steps of forward and backward convolutions on 4 conv layers.
    convs = sum(n for op, n in t['counts'].items() if 'Conv2D' in op)
    self.assertGreaterEqual(convs, 10 * 4 * 2)
    self.assertGreater(t['categories']['convolution'], 0)
    self.assertAlmostEqual(sum(t['categories'].values()), sum(t['seconds'].values()))
    self.assertTrue(any(n.endswith('.xplane.pb') for _, _, names in os.walk(trace)
                        for n in names))
    # The traced graph's op count, printed beside the seconds: the 10 inner steps are unrolled
    # into it, so it holds at least their convolutions and is more than its six commonest ops.
    self.assertGreaterEqual(out['ops_per_iteration'], 10 * 4 * 2)
    self.assertEqual(len(out['top_ops']), 6)
    self.assertGreater(out['ops_per_iteration'], sum(out['top_ops'].values()))



class OpCountTest(tf.test.TestCase):

  def test_functions_count_once_per_call_site(self):
    inner = tf.function(lambda x: tf.square(x) + 1.0)

    @tf.function
    def outer(x):
      return inner(x) * inner(x + 2.0)

    graph_def = outer.get_concrete_function(tf.TensorSpec([3])).graph.as_graph_def()
    top = collections.Counter(n.op for n in graph_def.node)
    body = collections.Counter(n.op for f in graph_def.library.function for n in f.node_def)
    counts = benchmarking.graph_op_counts(graph_def)
    self.assertEqual(counts['Square'], 2)  # only in the called function, called twice
    self.assertEqual(counts['total'], sum(top.values()) + 2 * sum(body.values()))
    self.assertEqual(list(counts)[0], 'total')

  def test_ops_per_step_counts_the_traced_step(self):
    concrete = benchmarking.traced_train_step('A', 'maml', 'first')
    counts = benchmarking.ops_per_step('A', 'maml', 'first')
    self.assertEqual(counts, benchmarking.graph_op_counts(concrete.graph.as_graph_def()))
    # Four conv layers, 5 inner steps and the outer loss, for each of the 4 tasks: the tasks'
    # inner loops are traced, not left to run eagerly.
    self.assertGreaterEqual(counts['Conv2D'], 4 * 4 * 6)
    with self.assertRaisesRegex(ValueError, 'traced execution'):
      benchmarking.traced_train_step('A', 'maml', 'first', execution='eager')


class FlopCountTest(tf.test.TestCase):

  def test_the_flop_count_holds_every_tasks_convolutions(self):
    folder = real_data.require('omniglot_28x28.npz')
    out = benchmarking.count_train_flops('A', 'maml', 'first', folder)
    cfg = benchmarking._model_config('A', 'maml', 'first')  # pylint: disable=protected-access
    # Forward convolution FLOPs of one 28x28x1 image through the conv4 backbone (3x3, 'same',
    # 2x2 pooling after each block).
    per_image, size, channels_in = 0, 28, 1
    for _ in range(cfg.num_blocks):
      per_image += size * size * 9 * channels_in * cfg.channels * 2
      size, channels_in = size // 2, cfg.channels
    support = benchmarking.WAY * benchmarking.FLOP_SHOTS['A']
    query = benchmarking.WAY * benchmarking.SHAPES['A']['query']
    # At least each inner step's forward pass and filter gradient on the support and the same
    # for the query, in every task of the meta-batch: a count that misses tasks (e.g. the
    # profiler not looking inside a per-task function) falls below it.
    floor = benchmarking.META_BATCH * (cfg.train_inner_steps * 2 * support + 2 * query) * per_image
    self.assertGreater(out['flops'], floor)
    self.assertGreater(out['seconds'], 0)


if __name__ == '__main__':
  tf.test.main()
