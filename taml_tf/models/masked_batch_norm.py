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
    """Normalises `inputs` [B, H, W, C] with statistics over the rows where `row_mask` [B] is 1."""
    if row_mask is None:
      mean, variance = tf.nn.moments(inputs, axes=[0, 1, 2])
    else:
      weights = tf.cast(row_mask, inputs.dtype)[:, None, None, None]
      spatial = tf.cast(tf.shape(inputs)[1] * tf.shape(inputs)[2], inputs.dtype)
      count = tf.maximum(tf.reduce_sum(weights) * spatial, 1.0)
      mean = tf.reduce_sum(inputs * weights, axis=[0, 1, 2]) / count
      variance = tf.reduce_sum(tf.square(inputs - mean) * weights, axis=[0, 1, 2]) / count
    return (inputs - mean) * tf.math.rsqrt(variance + self.epsilon) + self.offset

  def get_config(self):
    return {**super().get_config(), 'epsilon': self.epsilon}
