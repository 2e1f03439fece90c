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
  """

  def __init__(self, epsilon: float = 1e-3, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = epsilon

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
    axes = [0, 1, 2]
    shift = tf.stop_gradient(tf.reduce_mean(inputs[:1], axis=axes))
    centred = inputs - shift
    if row_mask is None:
      # Every row is real: plain means, without the mask's multiplications (and theirs in the
      # first- and second-order gradients: a fifth of a meta-update's element-wise ops).
      centred_mean = tf.reduce_mean(centred, axis=axes)
      variance = tf.reduce_mean(tf.square(centred - centred_mean), axis=axes)
    else:
      weights = tf.cast(row_mask, inputs.dtype)[:, None, None, None]
      spatial = tf.cast(tf.shape(inputs)[1] * tf.shape(inputs)[2], inputs.dtype)
      count = tf.maximum(tf.reduce_sum(weights) * spatial, 1.0)
      centred_mean = tf.reduce_sum(centred * weights, axis=axes) / count
      variance = tf.reduce_sum(tf.square(centred - centred_mean) * weights, axis=axes) / count
    return (centred - centred_mean) * tf.math.rsqrt(variance + self.epsilon) + self.offset

  def get_config(self):
    return {**super().get_config(), 'epsilon': self.epsilon}
