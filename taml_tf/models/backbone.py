"""The conv4 backbone (feature extractor) of the meta-learner.

Four blocks of [conv 3x3 (stride 1, SAME, bias) -> batch norm (batch statistics, learnable
offset, no scale) -> ReLU -> max-pool 2x2 (VALID)], then flatten. The dense classifier head is
not part of this model: in Bayesian TAML it is a fixed zero matrix that only the inner loop
changes (Lee et al., ICLR 2020, section 3; authors' code), so it is created by the inner loop.

The inner loop applies this model to adapted weights functionally through
:meth:`Conv4.apply`, which uses Keras 3 ``stateless_call`` and never assigns to variables.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from taml_tf import parameters
from taml_tf import precision as precision_lib
from taml_tf.models.masked_batch_norm import MaskedBatchNorm


class Conv4(keras.Model):
  """conv4 feature extractor whose conv weights can be swapped for adapted tensors.

  Args:
    channels: filters per block (32 in the paper).
    num_blocks: number of conv blocks (4 in the paper).
    bn_epsilon: batch-norm epsilon.
    precision: 'float32', or 'mixed_bfloat16' for bfloat16 convolutions (float32 variables,
      batch norm and features).
  """

  def __init__(self, channels: int = 32, num_blocks: int = 4, bn_epsilon: float = 1e-3,
               precision: str = 'float32', **kwargs):
    super().__init__(**kwargs)
    self.channels = channels
    self.num_blocks = num_blocks
    self.convs = [
        keras.layers.Conv2D(
            channels, 3, padding='same', use_bias=True,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            bias_initializer='zeros', name=f'conv{i + 1}',
            dtype=precision_lib.layer_policy(precision))
        for i in range(num_blocks)]
    self.norms = [MaskedBatchNorm(bn_epsilon, name=f'norm{i + 1}') for i in range(num_blocks)]
    self.pool = keras.layers.MaxPooling2D(2, 2, padding='valid')
    self.flatten = keras.layers.Flatten()

  def build_for(self, image_shape) -> 'Conv4':
    """Creates the variables for images of (H, W, C) `image_shape`; returns self."""
    self(tf.zeros((1,) + tuple(image_shape)), training=True)
    return self

  def call(self, images, row_mask=None, training=True):
    """Features [B, F] of `images` [B, H, W, C]; `row_mask` [B] marks real rows for batch norm."""
    x = images
    for conv, norm in zip(self.convs, self.norms):
      x = self.pool(tf.nn.relu(norm(conv(x), row_mask=row_mask)))
    return self.flatten(x)

  def feature_size(self, image_shape) -> int:
    """Length F of the flattened features for images of (H, W, C) `image_shape`."""
    h, w = image_shape[0], image_shape[1]
    for _ in range(self.num_blocks):
      h, w = h // 2, w // 2
    return h * w * self.channels

  def adaptable_params(self) -> tuple:
    """The variables the inner loop adapts: a :class:`taml_tf.parameters.Layer` (kernel,
    bias) per conv layer, conv1 first."""
    return tuple(parameters.Layer(conv.kernel, conv.bias) for conv in self.convs)

  def apply(self, convs: Sequence[parameters.Layer], images, row_mask=None):
    """Features of `images` with the conv weights replaced by the tensors in `convs`.

    Args:
      convs: adapted (kernel, bias) Layers, one per conv layer in the order of
        :meth:`adaptable_params` (the batch-norm offsets always come from the model).
      images: [B, H, W, C] float images.
      row_mask: optional [B] mask of real rows for the batch-norm statistics.

    Returns:
      [B, F] features; gradients flow to `convs` (and to the batch-norm offsets).

    Raises:
      ValueError: if `convs` does not have one Layer per conv layer.
    """
    if len(convs) != self.num_blocks:
      raise ValueError(f'apply needs {self.num_blocks} conv layers, got {len(convs)}')
    by_variable = {}
    for own, adapted in zip(self.adaptable_params(), convs):
      for variable, tensor in zip(own, adapted):
        by_variable[id(variable)] = tensor
    trainable = [by_variable.get(id(v), v.value) for v in self.trainable_variables]
    non_trainable = [v.value for v in self.non_trainable_variables]
    features, _ = self.stateless_call(trainable, non_trainable, images, row_mask=row_mask,
                                      training=True)
    return features
