"""MaskedBatchNorm's closed-form gradients against the automatic derivatives of plain ops."""

import numpy as np
import tensorflow as tf

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


if __name__ == '__main__':
  tf.test.main()
