"""Tests of the profiler-trace summary (op-type self times)."""

import os
import tempfile

import tensorflow as tf

from taml_tf.products import profiling


def write_xspace(path, lines):
  """Writes a host plane whose `lines` are {line name: [(event name, offset_ps, duration_ps)]}."""
  # Private: TF has no public class for the trace's proto (as in profiling.op_times).
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  space = xplane_pb2.XSpace()
  plane = space.planes.add(name='/host:CPU')
  ids = {}
  for i, (line_name, events) in enumerate(lines.items()):
    line = plane.lines.add(id=i, name=line_name)
    for name, offset, duration in events:
      if name not in ids:
        ids[name] = len(ids) + 1
        plane.event_metadata[ids[name]].id = ids[name]
        plane.event_metadata[ids[name]].name = name
      line.events.add(metadata_id=ids[name], offset_ps=offset, duration_ps=duration)
  with open(path, 'wb') as f:
    f.write(space.SerializeToString())


class OpTimesTest(tf.test.TestCase):

  def test_self_time_subtracts_nested_ops_and_skips_bookkeeping(self):
    path = os.path.join(self.get_temp_dir(), 'host.xplane.pb')
    us = 10**6  # picoseconds per microsecond
    write_xspace(path, {
        'tf_Compute/1': [
            # A function-call op holding a convolution, which holds nothing, and a Mul.
            ('model/call:StatefulPartitionedCall', 0, 100 * us),
            ('model/conv:_MklNativeConv2D', 10 * us, 30 * us),
            ('model/mul:Mul', 50 * us, 10 * us),
            ('ThreadpoolListener::Record', 55 * us, 1 * us),
            ('model/relu:Relu', 200 * us, 5 * us),
        ],
        'tf_Compute/2': [('model/conv_1:_MklNativeConv2D', 20 * us, 40 * us)],
        'python': [('EagerLocalExecute: __inference_step_7', 0, 300 * us)],
    })
    times = profiling.op_times(path, calls=2, wall_seconds=1e-3)
    self.assertAllClose(times.seconds, {'StatefulPartitionedCall': 60e-6,
                                        '_MklNativeConv2D': 70e-6, 'Mul': 10e-6,
                                        'Relu': 5e-6})
    self.assertEqual(times.counts, {'StatefulPartitionedCall': 1, '_MklNativeConv2D': 2,
                                    'Mul': 1, 'Relu': 1})
    self.assertAllClose(times.busy_seconds, 145e-6)
    self.assertEqual((times.calls, times.wall_seconds), (2, 1e-3))
    self.assertAllClose(profiling.categories(times),
                        {'convolution': 70e-6, 'control flow': 60e-6, 'element-wise': 15e-6})
    self.assertEqual(list(profiling.categories(times))[0], 'convolution')
    table = profiling.markdown(times)
    self.assertIn('| convolution | 0.000 | 48.3% |', table)
    self.assertIn('(2 ops per call)', table)

  def test_a_key_function_splits_an_op_type_by_the_ops_names(self):
    path = os.path.join(self.get_temp_dir(), 'host.xplane.pb')
    us = 10**6
    write_xspace(path, {
        'tf_Compute/1': [
            ('step/call:StatefulPartitionedCall', 0, 100 * us),
            ('step/block0/conv:_MklNativeConv2D', 10 * us, 30 * us),
            ('step/block1/conv:_MklNativeConv2D', 50 * us, 20 * us),
        ],
        'tf_Compute/2': [('step/block1/conv_1:_MklNativeConv2D', 20 * us, 5 * us)],
    })
    times = profiling.op_times(
        path, key=lambda name, op_type: (op_type, name.split('/')[1]))
    # The name is the op's, not its event's: the ':<op type>' suffix is not part of it.
    self.assertAllClose(times.seconds, {('StatefulPartitionedCall', 'call'): 50e-6,
                                        ('_MklNativeConv2D', 'block0'): 30e-6,
                                        ('_MklNativeConv2D', 'block1'): 25e-6})
    self.assertEqual(times.counts[('_MklNativeConv2D', 'block1')], 2)

  def test_categories_fold_onednn_names(self):
    for op_type, expected in (('_MklNativeConv2DBackpropFilterWithBias', 'convolution'),
                              ('_MklNativeFusedConv2D', 'convolution'),
                              ('Conv2DBackpropInput', 'convolution'),
                              ('_MklBatchMatMulV2', 'matmul'), ('_MklMatMul', 'matmul'),
                              ('_MklNativeMaxPoolGrad', 'pooling'),
                              ('MaxPoolGradGrad', 'pooling'), ('Sum', 'reductions'),
                              ('Cast', 'data movement'), ('Mul', 'element-wise'),
                              ('FusedBatchNormV3', 'element-wise')):
      self.assertEqual(profiling.category(op_type), expected, op_type)

  def test_a_real_trace_counts_the_steps_ops(self):
    logdir = os.path.join(self.get_temp_dir(), 'trace')
    images = tf.random.normal([8, 12, 12, 3])
    kernel = tf.Variable(tf.random.normal([3, 3, 3, 4]))

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(images, kernel, 1, 'SAME')))
      return tape.gradient(loss, kernel)

    step()  # traced outside the profile
    wall = profiling.trace(step, logdir, calls=3)
    times = profiling.op_times(logdir, calls=3, wall_seconds=wall)
    self.assertGreater(wall, 0)
    convs = {t: n for t, n in times.counts.items() if profiling.category(t) == 'convolution'}
    # One forward convolution and one kernel gradient per call.
    self.assertEqual(sum(convs.values()), 6, times.counts)
    self.assertGreater(profiling.categories(times)['convolution'], 0)

  def test_missing_and_corrupt_traces_are_named(self):
    folder = tempfile.mkdtemp(dir=self.get_temp_dir())
    with self.assertRaisesRegex(FileNotFoundError, 'no profiler trace'):
      profiling.op_times(folder)
    bad = os.path.join(folder, 'bad.xplane.pb')
    with open(bad, 'wb') as f:
      f.write(b'\xff\xff not a protobuf')
    with self.assertRaisesRegex(ValueError, 'not a profiler trace'):
      profiling.op_times(bad)
    empty = os.path.join(folder, 'empty.xplane.pb')
    write_xspace(empty, {'tf_Compute/1': [('ThreadpoolListener::Record', 0, 5)]})
    with self.assertRaisesRegex(ValueError, 'holds no TensorFlow op'):
      profiling.op_times(empty)
    with self.assertRaisesRegex(ValueError, 'calls must be >= 1'):
      profiling.trace(lambda: None, folder, calls=0)


if __name__ == '__main__':
  tf.test.main()
