"""Batch normalisation over the real rows of a padded batch."""

from __future__ import annotations

import keras
import tensorflow as tf


class MaskedBatchNorm(keras.layers.Layer):
  """Transductive batch norm with a learnable offset and no scale, ignoring padding rows.

  As in MAML and the authors' code, statistics always come from the current batch (there are no
  running averages). Unlike the authors' code, rows whose mask is 0 do not enter the mean and
  variance, so a padded task normalises exactly like the unpadded one. The computation uses
  plain ops (not the fused kernel) so second-order gradients are complete.

  Args:
    epsilon: added to the variance.
    second_order: False gives the layer the backward pass of the authors' training graph: its
      gradient (the inner loop's batch-norm backward) is a constant for enclosing tapes, so a
      meta-gradient loses every second-order term through it. Their main.py builds the
      meta-batch loss in a TF1 ``tf.map_fn``, where TensorFlow's gradient of
      ``FusedBatchNormGrad`` finds no path and returns None (docs/reproduction.md). The
      values and first-order gradients are unchanged.
  """

  def __init__(self, epsilon: float = 1e-3, second_order: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = epsilon
    self.second_order = bool(second_order)

  def build(self, input_shape):
    self.offset = self.add_weight(
        name='offset', shape=(input_shape[-1],), initializer='zeros', trainable=True)

  def call(self, inputs, row_mask=None):
    """Normalises `inputs` [B, H, W, C] with statistics over the rows where `row_mask` [B] is 1.

    The sums run over (x - shift), where the shift is the first row's per-channel mean held
    constant: mathematically the same statistics and gradients, but accurate in float32 when a
    channel's mean is far larger than its spread. That is the common case here: on images with
    a constant background (Omniglot) the conv outputs are nearly the bias everywhere, and summing
    the raw values (thousands of them) loses about 1e-5 of the mean, which batch norm divides by
    its spread; the error then differed with the summation order (XLA against TensorFlow's
    kernels), and after 5 inner steps it left the meta-gradients 3e-4 apart.
    """
    if self.second_order:
      return self._normalise(inputs, tf.convert_to_tensor(self.offset), row_mask)[0]
    return self._first_order_only(inputs, tf.convert_to_tensor(self.offset), row_mask)

  def _normalise(self, inputs, offset, row_mask):
    """(output, x_hat, 1 / sqrt(variance + epsilon), row weights or None)."""
    axes = [0, 1, 2]
    shift = tf.stop_gradient(tf.reduce_mean(inputs[:1], axis=axes))
    centred = inputs - shift
    if row_mask is None:
      # Every row is real: plain means, without the mask's multiplications (and theirs in the
      # first- and second-order gradients: a fifth of a meta-update's element-wise ops).
      weights = None
      centred_mean = tf.reduce_mean(centred, axis=axes)
      variance = tf.reduce_mean(tf.square(centred - centred_mean), axis=axes)
    else:
      weights = tf.cast(row_mask, inputs.dtype)[:, None, None, None]
      spatial = tf.cast(tf.shape(inputs)[1] * tf.shape(inputs)[2], inputs.dtype)
      count = tf.maximum(tf.reduce_sum(weights) * spatial, 1.0)
      centred_mean = tf.reduce_sum(centred * weights, axis=axes) / count
      variance = tf.reduce_sum(tf.square(centred - centred_mean) * weights, axis=axes) / count
    inverse = tf.math.rsqrt(variance + self.epsilon)
    normalised = (centred - centred_mean) * inverse
    return normalised + offset, normalised, inverse, weights

  def _first_order_only(self, inputs, offset, row_mask):
    """:meth:`_normalise`'s output, whose backward pass is a constant for enclosing tapes."""

    @tf.custom_gradient
    def normalise(x, beta):
      out, normalised, inverse, weights = self._normalise(x, beta, row_mask)

      def grad(dy):
        # The batch-norm backward of batch statistics in closed form (what FusedBatchNormGrad
        # computes); rows outside the statistics (weight 0) only pass dy through.
        axes = [0, 1, 2]
        if weights is None:
          mean = lambda v: tf.reduce_mean(v, axis=axes)
          dx = inverse * (dy - mean(dy) - normalised * mean(dy * normalised))
        else:
          spatial = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], x.dtype)
          count = tf.maximum(tf.reduce_sum(weights) * spatial, 1.0)
          mean = lambda v: tf.reduce_sum(v * weights, axis=axes) / count
          dx = inverse * (dy - weights * (mean(dy) + normalised * mean(dy * normalised)))
        return tf.stop_gradient(dx), tf.stop_gradient(tf.reduce_sum(dy, axis=axes))

      return out, grad

    return normalise(inputs, offset)

  def get_config(self):
    return {**super().get_config(), 'epsilon': self.epsilon,
            'second_order': self.second_order}
