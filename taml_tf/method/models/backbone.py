"""The conv4 backbone (feature extractor) of the meta-learner.

Four blocks of [conv 3x3 (stride 1, SAME, bias) -> batch norm (batch statistics, learnable
offset, no scale) -> ReLU -> max-pool 2x2 (VALID)], then flatten (computed as pooling, then
ReLU: the same values and derivatives, see Conv4.call; and the convolutions without their
biases, which the batch statistics cancel: :func:`conv_without_bias`). The dense classifier head is
not part of this model: in Bayesian TAML it is a fixed zero matrix that only the inner loop
changes (Lee et al., ICLR 2020, section 3; authors' code), so it is created by the inner loop.

The inner loop applies this model to adapted weights functionally through
:meth:`Conv4.apply`, which uses Keras 3 ``stateless_call`` and never assigns to variables.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from taml_tf.method import parameters
from taml_tf.method import precision as precision_lib
from taml_tf.method.models.masked_batch_norm import MaskedBatchNorm


POOLINGS = ('kernel', 'elementwise')


def max_pool_2x2(x):
  """2x2 max pooling with stride 2 and 'valid' padding, built from element-wise maxima.

  The same values and first-order gradient as ``tf.nn.max_pool2d(x, 2, 2, 'VALID')`` (a tie
  sends the gradient to the first maximum in row-major order, as TensorFlow's kernel does),
  but its second-order gradient is exact under XLA too. XLA's MaxPoolGradGrad picks each
  window's maximum by the input rounded to bfloat16 (tf2xla pooling_ops.cc), so where two
  values of a window agree to about 3 digits it routes the second-order term to the wrong
  one: on a conv4 meta-gradient with 5 inner steps that was a 0.05-0.17% difference from the
  TensorFlow kernels (2.5% on a Hessian-vector product through one pooling), and TPUs compile
  through XLA. Without XLA it is slower than the MaxPool kernel (the conv4 train step took
  1.7x as long on a 2-core CPU), so :class:`Conv4` uses it only with ``pooling='elementwise'``.

  Args:
    x: [B, H, W, C]; an odd last row or column is dropped.

  Returns:
    [B, H // 2, W // 2, C].
  """
  size = [x.shape[i] if x.shape[i] is not None else tf.shape(x)[i] for i in (1, 2)]
  x = x[:, :size[0] // 2 * 2, :size[1] // 2 * 2]
  return tf.maximum(tf.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
                    tf.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))


_WINDOW = [1, 2, 2, 1]


def kernel_max_pool_2x2(x):
  """2x2 max pooling with stride 2 and 'valid' padding: TensorFlow's MaxPool and MaxPoolGrad
  kernels, with the second-order gradient as average pooling instead of MaxPoolGradGrad.

  The first-order backward routes dy to each window's maximum (the first in row-major order on
  a tie): dx = P^T dy for a selection P. Its derivative in dy, which a meta-gradient takes
  through every inner step, is P g: each window's cotangent at the position of its maximum.
  TensorFlow computes that with MaxPoolGradGrad, whose CPU kernel searches every window again
  element by element; here P g = 4 * avg_pool(g * m), m = P^T 1 = MaxPoolGrad of ones (one 1
  per window, where dy goes), so both orders route through the same kernel and every value is
  the same to the bit (a window's sum holds one nonzero; * 4 undoes / 4 exactly). A pass of
  pooling, backward and second order is 2.2-2.6x faster than with MaxPoolGradGrad on the
  activations of a B task's first three layers ([126, 32, 32, 32] to [126, 8, 8, 32], one thread
  per op), and train steps 1.08-1.27x (docs/performance.md, "Levers measured on 2026-12-07
  (morning)"). MaxPoolGrad's derivative in x is 0 (dx is piecewise constant in x), as
  TensorFlow's.

  Args:
    x: [B, H, W, C]; an odd last row or column is dropped.

  Returns:
    [B, H // 2, W // 2, C].
  """

  @tf.custom_gradient
  def pool(x):
    y = tf.nn.max_pool2d(x, 2, 2, 'VALID')

    def route(dy):
      return tf.raw_ops.MaxPoolGrad(orig_input=x, orig_output=y, grad=dy, ksize=_WINDOW,
                                    strides=_WINDOW, padding='VALID')

    def grad(dy):

      @tf.custom_gradient
      def backward(dy):

        def second_order(g):
          return 4 * tf.nn.avg_pool2d(g * route(tf.ones_like(dy)), 2, 2, 'VALID')

        return route(dy), second_order

      return backward(dy)

    return y, grad

  return pool(x)


def conv_without_bias(conv: keras.layers.Conv2D, x):
  """`conv`'s convolution of `x` without its bias, in the layer's compute dtype: every block's
  batch norm uses batch statistics, which subtract each channel's mean, so the bias changes no
  value after them and its gradient is zero (Lee et al.'s conv4 block is conv + bias, then batch
  norm; the bias variables stay, as in their checkpoints, and keep their initial values).

  Left out, the bias costs neither its add nor its gradient's reduction over every output
  position (the larger part of conv1's filter gradient), nor their derivatives in the
  meta-gradient, and the fused batch norm needs no shift against a channel mean far above its
  spread (MaskedBatchNorm.fused_kernel). The bias's gradient, in the inner loop and in the
  meta-gradient, is then exactly zero (the tapes' unconnected gradient), where the form with
  the bias gives zero plus rounding, which Adam's normalised steps turn into a random walk of
  the bias that no output can see.

  Args:
    conv: a built Conv2D; its kernel is read as the variable's current value (under
      ``stateless_call``, the adapted tensor).
    x: [B, H, W, C_in] inputs.

  Returns:
    [B, H, W, C_out] in ``conv.compute_dtype``.
  """
  dtype = conv.compute_dtype
  if not conv.built:  # the first call (build_for) creates the variables
    conv.build(x.shape)
  return conv.convolution_op(tf.cast(x, dtype), tf.cast(conv.kernel, dtype))


def patch_moments(images, kernel_size):
  """Sums over every output position of a 'same'-padded, stride-1 convolution's input patches:
  what the first block's batch statistics are computed from (:func:`first_block_statistics`).

  The support images are the same in every inner step (and Monte-Carlo sample), so their
  patches' sum s and Gram matrix G = sum p p^T hold everything batch norm needs of conv1's
  output y = P W: per channel c, sum(y_c) = s . W_c and sum(y_c^2) = W_c^T G W_c. In float64,
  so that E[y^2] - E[y]^2 keeps float32's accuracy of the variance.

  Args:
    images: [B, H, W, C] float images.
    kernel_size: (kh, kw) of the convolution.

  Returns:
    (s [kh kw C], G [kh kw C, kh kw C], n): float64, n = B H W the positions summed.
  """
  kh, kw = kernel_size
  # 'same' padding at stride 1, then the kh * kw shifted views side by side: the patches in
  # the kernel's (row, column, channel) order. Slices, not ExtractImagePatches, whose CPU
  # kernel took 33 ms on a B support set (~124 x 32 x 32 x 3) against a few for these.
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  padded = tf.pad(images, [[0, 0], [(kh - 1) // 2, kh // 2], [(kw - 1) // 2, kw // 2], [0, 0]])
  patches = tf.concat([padded[:, r:r + height, c:c + width] for r in range(kh)
                       for c in range(kw)], axis=-1)
  patches = tf.cast(tf.reshape(patches, [-1, kh * kw * images.shape[-1]]), tf.float64)
  return (tf.reduce_sum(patches, 0), tf.matmul(patches, patches, transpose_a=True),
          tf.cast(tf.shape(patches)[0], tf.float64))


def first_block_statistics(kernel, moments):
  """Batch mean and (biased) variance per channel of conv1's output, from :func:`patch_moments`.

  Args:
    kernel: [kh, kw, C_in, C_out] conv1 kernel (float32).
    moments: :func:`patch_moments` of the images it convolves.

  Returns:
    (mean [C_out], variance [C_out]) float32, differentiable in `kernel`.
  """
  patch_sum, gram, n = moments
  w = tf.cast(tf.reshape(kernel, [-1, kernel.shape[-1]]), tf.float64)
  mean = tf.linalg.matvec(w, patch_sum, transpose_a=True) / n
  variance = tf.maximum(tf.reduce_sum(w * tf.matmul(gram, w), 0) / n - tf.square(mean), 0.0)
  return tf.cast(mean, tf.float32), tf.cast(variance, tf.float32)


class Conv4(keras.Model):
  """conv4 feature extractor whose conv weights can be swapped for adapted tensors.

  Args:
    channels: filters per block (32 in the paper).
    num_blocks: number of conv blocks (4 in the paper).
    bn_epsilon: batch-norm epsilon.
    bn_second_order: False makes each batch norm's backward pass a constant for enclosing
      tapes (MaskedBatchNorm's `second_order`): the meta-gradient the authors' code trains with.
    precision: 'float32', or 'mixed_bfloat16' for bfloat16 convolutions (float32 variables,
      batch norm and features; under `fused_norm`, the blocks that feed another convolution
      keep their batch norm, pooling and ReLU in bfloat16 too, which rounds nothing the next
      convolution would not: MaskedBatchNorm.fused_kernel).
    pooling: 'kernel' (TensorFlow's MaxPool kernels, :func:`kernel_max_pool_2x2`: fastest
      without XLA) or 'elementwise'
      (:func:`max_pool_2x2`: the exact second-order gradient under XLA and on TPUs;
      ``ExecutionConfig.pooling`` picks it for static shapes). The same values and first-order
      gradients either way.
  """

  def __init__(self, channels: int = 32, num_blocks: int = 4, bn_epsilon: float = 1e-3,
               bn_second_order: bool = True,
               precision: str = 'float32', pooling: str = 'kernel', **kwargs):
    super().__init__(**kwargs)
    if pooling not in POOLINGS:
      raise ValueError(f'pooling must be one of {POOLINGS}, got {pooling!r}')
    self.pooling = pooling
    self.channels = channels
    self.num_blocks = num_blocks
    self.bn_epsilon = bn_epsilon
    self.bn_second_order = bn_second_order
    self.precision = precision
    self.convs = [
        keras.layers.Conv2D(
            channels, 3, padding='same', use_bias=True,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            bias_initializer='zeros', name=f'conv{i + 1}',
            dtype=precision_lib.layer_policy(precision))
        for i in range(num_blocks)]
    self.norms = [MaskedBatchNorm(bn_epsilon, second_order=bn_second_order, name=f'norm{i + 1}')
                  for i in range(num_blocks)]
    self.flatten = keras.layers.Flatten()

  def get_config(self) -> dict:
    """The constructor's arguments: ``Conv4.from_config`` builds the same network (new weights).

    Keras' automatic config of a subclassed model does not serve: it reported the defaults, not
    the arguments given.
    """
    return {'name': self.name, 'trainable': self.trainable, 'channels': self.channels,
            'num_blocks': self.num_blocks, 'bn_epsilon': self.bn_epsilon,
            'bn_second_order': self.bn_second_order, 'precision': self.precision,
            'pooling': self.pooling}

  def build_for(self, image_shape) -> 'Conv4':
    """Creates the variables for images of (H, W, C) `image_shape`; returns self."""
    self(tf.zeros((1,) + tuple(image_shape)), training=True)
    return self

  def call(self, images, row_mask=None, training=True, fused_norm=False, input_moments=None):
    """Features [B, F] of `images` [B, H, W, C]; `row_mask` [B] marks real rows for batch norm;
    `fused_norm`: every row real, batch norm as TensorFlow's fused kernel after convolutions
    without their biases (:func:`conv_without_bias`, MaskedBatchNorm.fused_kernel). Without a
    `row_mask`, the first block's statistics come from `input_moments` where
    :meth:`uses_moments` says so (:meth:`input_moments` of `images`; computed here if None;
    :meth:`first_block`), in training too.

    Raises:
      ValueError: `fused_norm` with a `row_mask` (the fused kernel has no row mask).
    """
    if fused_norm and row_mask is not None:
      raise ValueError('Conv4: fused_norm needs every row real (row_mask=None); the fused '
                       'batch-norm kernel cannot leave padding rows out of the statistics')
    x = images
    # Every convolution leaves its bias out (conv_without_bias: batch statistics cancel it).
    # Under `fused_norm` batch norm is the fused kernel without the shift; mixed_bfloat16 keeps
    # the blocks that feed another convolution in bfloat16 (MaskedBatchNorm.fused_kernel), the
    # last in float32, as the features. Where every row is real the first block takes its
    # statistics from the images' patch moments instead and pools before normalising
    # (first_block; uses_moments says where).
    from_moments = row_mask is None and self.uses_moments(fused_norm)
    for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
      y = conv_without_bias(conv, x)
      if from_moments and i == 0:
        x = tf.nn.relu(self.first_block(y, images, input_moments, second_order=not fused_norm))
        continue
      if fused_norm:
        x = norm.fused_kernel(y if i + 1 < self.num_blocks else tf.cast(y, tf.float32))
      else:
        x = norm(y, row_mask=row_mask)
      # Pooling before the ReLU: relu(max(a, b)) = max(relu(a), relu(b)), and the gradients of
      # both orders route each window's cotangent to the same position (a window whose maximum
      # is <= 0 passes none either way), so every value and derivative is the same, while the
      # ReLU, its gradient and their second-order terms run on a quarter of the values.
      x = tf.nn.relu(self.pool(x, second_order=not fused_norm))
    return self.flatten(x)

  def uses_moments(self, fused_norm: bool) -> bool:
    """Whether a pass on all-real rows takes the first block from the images' patch moments
    (:meth:`first_block`): under `fused_norm` in float32 (mixed_bfloat16 keeps its bfloat16
    blocks there), and in a differentiated pass (training) unless ``bn_second_order`` is
    False, whose batch-norm backward must stay a constant for enclosing tapes."""
    if fused_norm:
      return self.convs[0].compute_dtype == 'float32'
    return self.bn_second_order

  def input_moments(self, images, fused_norm: bool = True):
    """:func:`patch_moments` of `images` for conv1 where a pass with `fused_norm` uses them
    (:meth:`uses_moments`), else None: computed once per support set, they serve every inner
    step (inner_loop.adapt). The images are rounded to conv1's compute dtype first, as the
    convolution rounds them."""
    if not self.uses_moments(fused_norm):
      return None
    return self._patch_moments(images)

  def _patch_moments(self, images):
    """:func:`patch_moments` of `images` rounded to conv1's compute dtype (what conv1 reads),
    building conv1 on its first call."""
    conv = self.convs[0]
    if not conv.built:
      conv.build(images.shape)
    rounded = tf.cast(tf.cast(images, conv.compute_dtype), images.dtype)
    return patch_moments(rounded, conv.kernel_size)

  def first_block(self, y, images, moments=None, second_order: bool = False):
    """Batch norm and pooling of conv1's output `y` on all-real rows: pooled first, then
    normalised with statistics from the images' patch moments (:func:`patch_moments`,
    :func:`first_block_statistics`).

    Batch norm here has no scale, so per channel it is increasing and max pooling commutes with
    it: the same values (to rounding) as normalising and then pooling, but the normalisation
    runs on a quarter of the values, and its gradient's statistics terms reach conv1's kernel
    through the [kh kw C, C_out] moments, not through a pass over the activation: the largest
    activation of the network needs no batch-norm op, forward or backward, only the pooling
    and its gradient. The statistics are more accurate than a float32 pass over the activation
    (float64 moments).

    With `second_order` (a pass an enclosing tape differentiates: training's inner loop) the
    pooling is :meth:`pool`'s second-order form and the normalisation plain ops on the pooled
    quarter (MaskedBatchNorm.normalise_with), so every derivative of every order is
    TensorFlow's own through them and through the statistics' [kh kw C, C_out] products: the
    exact meta-gradient, as the closed-form batch norm's. Without it (`fused_norm`: meta-test,
    first-order inner loops) TensorFlow's pooling and fused inference kernels, first order.
    A bfloat16 `y` (mixed_bfloat16) is pooled in bfloat16 (pooling commutes with rounding) and
    normalised in float32, with the statistics of the rounded kernel and images the
    convolution used.

    Args:
      y: [B, H, W, C] conv1's output (without its bias), in conv1's compute dtype.
      images: conv1's input [B, H, W, C_in].
      moments: :meth:`input_moments` of `images` (None: computed here).
      second_order: whether an enclosing tape differentiates the block's backward pass.

    Returns:
      [B, H // 2, W // 2, C] float32: batch-normalised and max-pooled (the ReLU is the
      caller's).
    """
    conv = self.convs[0]
    if moments is None:
      moments = self._patch_moments(images)
    kernel = tf.cast(tf.cast(conv.kernel, conv.compute_dtype), tf.float32)
    mean, variance = first_block_statistics(kernel, moments)
    pooled = tf.cast(self.pool(y, second_order=second_order), tf.float32)
    if not self.norms[0].built:  # the first call (build_for) creates the offset
      self.norms[0].build(pooled.shape)
    return self.norms[0].normalise_with(pooled, mean, variance, second_order=second_order)

  def pool(self, x, second_order: bool = True):
    """The blocks' 2x2 max pooling of `x` [B, H, W, C], as `pooling` chooses.

    `second_order=False` (a pass whose backward no tape differentiates: `fused_norm`) takes
    ``tf.nn.max_pool2d`` for 'kernel': the same values and gradient as
    :func:`kernel_max_pool_2x2`, without its custom-gradient wrappers (a meta-test traces
    4,401 ops, not 4,601).
    """
    if self.pooling == 'elementwise':
      return max_pool_2x2(x)
    return kernel_max_pool_2x2(x) if second_order else tf.nn.max_pool2d(x, 2, 2, 'VALID')

  def feature_size(self, image_shape) -> int:
    """Length F of the flattened features for images of (H, W, C) `image_shape`."""
    h, w = image_shape[0], image_shape[1]
    for _ in range(self.num_blocks):
      h, w = h // 2, w // 2
    return h * w * self.channels

  def adaptable_params(self) -> tuple:
    """The variables the inner loop adapts: a :class:`taml_tf.method.parameters.Layer` (kernel,
    bias) per conv layer, conv1 first."""
    return tuple(parameters.Layer(conv.kernel, conv.bias) for conv in self.convs)

  def apply(self, convs: Sequence[parameters.Layer], images, row_mask=None,
            fused_norm: bool = False, input_moments=None):
    """Features of `images` with the conv weights replaced by the tensors in `convs`.

    Args:
      convs: adapted (kernel, bias) Layers, one per conv layer in the order of
        :meth:`adaptable_params` (the batch-norm offsets always come from the model).
      images: [B, H, W, C] float images.
      row_mask: optional [B] mask of real rows for the batch-norm statistics.
      fused_norm: batch norm as TensorFlow's fused kernel after convolutions without their
        biases (:meth:`call`), for a pass whose backward no tape differentiates and whose rows
        are all real.
      input_moments: :meth:`input_moments` of `images`, for a call without `row_mask` (None:
        computed in the call where used; pass them where the same images go through several
        calls).

    Returns:
      [B, F] features; gradients flow to the kernels of `convs` (and to the batch-norm
      offsets), none to their biases (:func:`conv_without_bias`).

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
                                      training=True, fused_norm=fused_norm,
                                      input_moments=input_moments)
    return features
