"""MaskedBatchNorm's closed-form gradients against the automatic derivatives of plain ops."""

from unittest import mock

import numpy as np
import tensorflow as tf

from taml_tf.method.models import masked_batch_norm
from taml_tf.method.models.masked_batch_norm import MaskedBatchNorm

EPSILON = 1e-3


def reference_batch_norm(x, offset, row_mask):
  """The layer's forward pass in plain ops (what it computed before the custom gradients)."""
  weights = (tf.ones_like(x[:, :1, :1, :1]) if row_mask is None
             else tf.cast(row_mask, x.dtype)[:, None, None, None])
  count = tf.reduce_sum(weights) * x.shape[1] * x.shape[2]
  mean = tf.reduce_sum(x * weights, [0, 1, 2]) / count
  variance = tf.reduce_sum(tf.square(x - mean) * weights, [0, 1, 2]) / count
  return (x - mean) * tf.math.rsqrt(variance + EPSILON) + offset


def derivatives(norm, x, offset, row_mask, upstream, directions):
  """Output, inner gradient and the gradient of its projection (a Hessian-vector product).

  The loss reads only real rows, as the learner's losses do; it is nonlinear in the output, so
  the inner gradient depends on x through the upstream gradient too.
  """
  real = 1.0 if row_mask is None else row_mask[:, None, None, None]
  with tf.GradientTape(persistent=True) as outer:
    outer.watch([x, offset])
    with tf.GradientTape() as inner:
      inner.watch([x, offset])
      y = norm(x, offset, row_mask)
      loss = tf.reduce_sum(upstream * tf.tanh(y) * real)
    grads = inner.gradient(loss, [x, offset])
    projected = tf.add_n([tf.reduce_sum(g * d) for g, d in zip(grads, directions)])
  hvp = outer.gradient(projected, [x, offset], unconnected_gradients=tf.UnconnectedGradients.ZERO)
  return [y] + grads + hvp


class MaskedBatchNormGradientTest(tf.test.TestCase):
  """float64, so that a wrong term (of order 1) stands far above rounding (1e-12)."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    shape = (7, 5, 5, 4)
    # A mean far above the spread, as conv outputs on Omniglot's constant background.
    self.x = tf.constant(3 + 0.5 * rng.normal(size=shape))
    self.offset = tf.constant(rng.normal(size=shape[-1:]))
    self.upstream = tf.constant(rng.normal(size=shape))
    self.directions = [tf.constant(rng.normal(size=shape)),
                       tf.constant(rng.normal(size=shape[-1:]))]
    self.mask = tf.constant([1, 1, 0, 1, 1, 1, 0], tf.float64)

  def layer(self, second_order):
    bn = MaskedBatchNorm(EPSILON, second_order=second_order, dtype='float64')
    bn.build(self.x.shape)

    def norm(x, offset, row_mask):
      # The offset enters as a tensor, as in Conv4.apply's stateless call.
      return bn.stateless_call([offset], [], x, row_mask=row_mask)[0]

    return norm

  def run_both(self, second_order, row_mask, graph):
    args = (self.x, self.offset, row_mask, self.upstream, self.directions)
    norm = self.layer(second_order)
    ours = lambda: derivatives(norm, *args)
    plain = lambda: derivatives(reference_batch_norm, *args)
    if graph:
      ours, plain = tf.function(ours), tf.function(plain)
    return [t.numpy() for t in ours()], [t.numpy() for t in plain()]

  def test_first_and_second_order_match_automatic_differentiation(self):
    names = ('output', 'd/dx', 'd/doffset', 'hvp x', 'hvp offset')
    for row_mask in (None, self.mask):
      for graph in (False, True):
        ours, plain = self.run_both(True, row_mask, graph)
        for name, a, b in zip(names, ours, plain):
          with self.subTest(masked=row_mask is not None, graph=graph, part=name):
            self.assertGreater(np.abs(b).max(), 1e-3)  # nothing vanishes by accident
            self.assertAllClose(a, b, rtol=1e-10, atol=1e-10)

  def test_padded_rows_change_nothing_in_either_order(self):
    # Padding rows of any value: the real rows' output, gradients and second-order terms are
    # those of the unpadded batch.
    real = tf.constant([1, 0, 1, 1, 1, 0, 1], tf.float64)
    keep = np.flatnonzero(real.numpy())
    padded = tf.where(real[:, None, None, None] > 0, self.x, 100.0)
    norm = self.layer(True)
    with_padding = derivatives(norm, padded, self.offset, real, self.upstream, self.directions)
    take = lambda t: tf.gather(t, keep)
    without = derivatives(norm, take(self.x), self.offset, None, take(self.upstream),
                          [take(self.directions[0]), self.directions[1]])
    for i, (a, b) in enumerate(zip(with_padding, without)):
      a = take(a) if a.shape.rank == 4 else a
      self.assertAllClose(a, b, rtol=1e-10, atol=1e-10, msg=f'part {i}')

  def test_without_second_order_the_backward_is_a_constant(self):
    # bn_second_order=False (the authors' training gradient): the same values and first-order
    # gradients; the inner gradient through batch norm is a constant for the outer tape.
    for row_mask in (None, self.mask):
      ours, plain = self.run_both(False, row_mask, graph=True)
      for a, b in zip(ours[:3], plain[:3]):
        self.assertAllClose(a, b, rtol=1e-10, atol=1e-10)
      self.assertAllEqual(ours[3], np.zeros_like(ours[3]))
      self.assertAllEqual(ours[4], np.zeros_like(ours[4]))


class FusedBatchNormTest(tf.test.TestCase):
  """`fused=True` (TensorFlow's fused kernel, for passes whose backward nothing differentiates):
  float32, as the kernel runs, against the closed form in float64."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(1)
    shape = (20, 14, 14, 8)
    # Omniglot-like: a mean of 10 and a spread of 0.01 per channel, where summing the raw
    # values in float32 loses the statistics (the shift's reason, MaskedBatchNorm._statistics).
    self.x = 10 + 0.01 * rng.normal(size=shape)
    self.upstream = rng.normal(size=shape)
    self.offset = rng.normal(size=shape[-1:])

  def output_and_gradient(self, dtype, fused):
    bn = MaskedBatchNorm(EPSILON, dtype=dtype)
    bn.build(self.x.shape)
    x = tf.constant(self.x, dtype)
    offset = tf.constant(self.offset, dtype)
    with tf.GradientTape() as tape:
      tape.watch([x, offset])
      y = bn.stateless_call([offset], [], x, fused=fused)[0]
      loss = tf.reduce_sum(tf.constant(self.upstream, dtype) * y)
    return [t.numpy() for t in [y] + tape.gradient(loss, [x, offset])]

  def test_fused_kernel_is_as_accurate_as_the_closed_form(self):
    exact = self.output_and_gradient('float64', fused=False)
    closed = self.output_and_gradient('float32', fused=False)
    fused = self.output_and_gradient('float32', fused=True)
    for name, e, c, f in zip(('output', 'd/dx', 'd/doffset'), exact, closed, fused):
      with self.subTest(part=name):
        scale = np.abs(e).max()
        self.assertGreater(scale, 1e-3)
        # The closed form's own float32 error here is 1e-5 of the scale; the fused kernel on
        # the raw inputs (without the shift) was 2.5e-4 from float64.
        self.assertLess(np.abs(f - e).max() / scale, 3e-5)
        self.assertLess(np.abs(c - e).max() / scale, 3e-5)

  def test_fused_is_one_kernel_each_way(self):
    bn = MaskedBatchNorm(EPSILON)
    bn.build(self.x.shape)
    ops = _inner_gradient_ops(bn, self.x, self.upstream, fused=True)
    self.assertEqual(ops.count('FusedBatchNormV3'), 1)
    self.assertEqual(ops.count('FusedBatchNormGradV3'), 1)

  def test_fused_refuses_a_row_mask(self):
    bn = MaskedBatchNorm(EPSILON)
    bn.build(self.x.shape)
    with self.assertRaisesRegex(ValueError, 'fused=True needs every row real'):
      bn(tf.constant(self.x, tf.float32), row_mask=tf.ones([self.x.shape[0]]), fused=True)


class FusedKernelTest(tf.test.TestCase):
  """`fused_kernel` (the fused kernel without the shift, after a convolution without its
  bias) on bfloat16 (mixed_bfloat16 blocks that feed another convolution): bfloat16 in and
  out, what casting to float32, the fused kernel and casting back compute, to bfloat16's
  rounding."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(4)
    shape = (16, 8, 8, 6)
    # A bfloat16 convolution's output: its values already rounded to 8 bits of mantissa.
    self.x = tf.cast(tf.constant(3 + 0.5 * rng.normal(size=shape), tf.float32), tf.bfloat16)
    self.upstream = tf.cast(tf.constant(rng.normal(size=shape), tf.float32), tf.bfloat16)
    self.bn = MaskedBatchNorm(EPSILON)
    self.bn.build(shape)
    self.bn.offset.assign(rng.normal(size=shape[-1:]))

  def output_and_gradient(self, low_precision):
    with tf.GradientTape() as tape:
      tape.watch(self.x)
      if low_precision:
        y = self.bn.fused_kernel(self.x)
      else:  # the float32 kernel between casts: the path before
        y = tf.cast(self.bn(tf.cast(self.x, tf.float32), fused=True), tf.bfloat16)
    return y, tape.gradient(y, self.x, output_gradients=self.upstream)

  def test_bfloat16_in_and_out_equal_to_the_float32_kernel_between_casts(self):
    ours, cast = self.output_and_gradient(True), self.output_and_gradient(False)
    for name, a, b in zip(('output', 'd/dx'), ours, cast):
      with self.subTest(part=name):
        self.assertEqual(a.dtype, tf.bfloat16)
        a, b = a.numpy().astype(np.float32), b.numpy().astype(np.float32)
        # The same values but where the two float32 results round to neighbouring bfloat16
        # numbers: one unit in the last place (2^-8 relative) at most.
        self.assertLessEqual(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3)), 2.0 ** -7)
        self.assertGreater(np.mean(a == b), 0.9)

  def test_one_kernel_each_way_and_no_cast(self):
    @tf.function
    def gradient(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = self.bn.fused_kernel(x)
      return tape.gradient(y, x, output_gradients=self.upstream)

    graph = gradient.get_concrete_function(self.x).graph
    ops = [op.type for op in graph.get_operations()]
    self.assertEqual(ops.count('FusedBatchNormV3'), 1)
    self.assertEqual(ops.count('FusedBatchNormGradV3'), 1)
    self.assertNotIn('Cast', ops)


class GradientKernelTest(tf.test.TestCase):
  """float32 on all-real rows, where the backward is TensorFlow's fused gradient kernel
  (``FusedBatchNormGradV2``) with its derivatives in closed form: the same first- and
  second-order numbers as the closed form in float64, and as float32's closed form."""

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(2)
    shape = (12, 6, 6, 5)
    self.x = 3 + 0.5 * rng.normal(size=shape)
    self.offset = rng.normal(size=shape[-1:])
    self.upstream = rng.normal(size=shape)
    self.directions = [rng.normal(size=shape), rng.normal(size=shape[-1:])]

  def derivatives(self, dtype, second_order=True, kernel=True):
    bn = MaskedBatchNorm(EPSILON, second_order=second_order, dtype=dtype)
    bn.build(self.x.shape)
    norm = lambda x, offset, row_mask: bn.stateless_call([offset], [], x, row_mask=row_mask)[0]
    args = [tf.constant(a, dtype) for a in (self.x, self.offset, self.upstream)]
    directions = [tf.constant(d, dtype) for d in self.directions]
    with mock.patch.object(masked_batch_norm, '_kernel_serves',
                           masked_batch_norm._kernel_serves if kernel else lambda x, w: False):
      run = tf.function(lambda: derivatives(norm, args[0], args[1], None, args[2], directions))
      graph = run.get_concrete_function().graph
      values = [t.numpy() for t in run()]
    return values, _op_types(graph)

  def test_kernel_matches_float64_in_both_orders(self):
    exact, _ = self.derivatives('float64')
    closed, _ = self.derivatives('float32', kernel=False)
    kernel, ops = self.derivatives('float32')
    self.assertIn('FusedBatchNormGradV2', ops)
    for name, e, c, k in zip(('output', 'd/dx', 'd/doffset', 'hvp x', 'hvp offset'),
                             exact, closed, kernel):
      with self.subTest(part=name):
        scale = np.abs(e).max()
        self.assertGreater(scale, 1e-3)
        self.assertLess(np.abs(c - e).max() / scale, 2e-6)  # float32's own rounding
        self.assertLess(np.abs(k - e).max() / scale, 2e-6)

  def test_kernel_without_second_order_keeps_the_constant_backward(self):
    exact, _ = self.derivatives('float64', second_order=False)
    kernel, ops = self.derivatives('float32', second_order=False)
    self.assertIn('FusedBatchNormGradV2', ops)
    for e, k in zip(exact[:3], kernel[:3]):
      self.assertLess(np.abs(k - e).max() / np.abs(e).max(), 2e-6)
    self.assertAllEqual(kernel[3], np.zeros_like(kernel[3]))
    self.assertAllEqual(kernel[4], np.zeros_like(kernel[4]))

  def test_a_row_mask_keeps_the_closed_form(self):
    bn = MaskedBatchNorm(EPSILON)
    bn.build(self.x.shape)
    ops = _inner_gradient_ops(bn, self.x, self.upstream, row_mask=tf.ones([self.x.shape[0]]))
    self.assertNotIn('FusedBatchNormGradV2', ops)


def _inner_gradient_ops(bn, x, upstream, **call_kwargs):
  """Op types of a traced float32 gradient of `bn(x, **call_kwargs)` with cotangent `upstream`
  (numpy arrays), the functions it calls included."""
  x, upstream = tf.constant(x, tf.float32), tf.constant(upstream, tf.float32)

  @tf.function
  def inner_gradient(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = bn(x, **call_kwargs)
    return tape.gradient(y, x, output_gradients=upstream)

  return _op_types(inner_gradient.get_concrete_function(x).graph)


def _op_types(graph):
  """Op types of `graph` and of every function it calls (the custom gradients' bodies)."""
  types = [op.type for op in graph.get_operations()]
  for function in graph._functions.values():  # pylint: disable=protected-access
    types += [node.op for node in function.cached_definition.node_def]
  return types


if __name__ == '__main__':
  tf.test.main()
