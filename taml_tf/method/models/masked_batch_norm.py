"""Batch normalisation over the real rows of a padded batch, with closed-form gradients."""

from __future__ import annotations

import keras
import tensorflow as tf

_AXES = [0, 1, 2]


def _weighted_mean(v, weights, count):
  """Per-channel mean of `v` [B, H, W, C] over the rows of weight 1 (all rows: weights None)."""
  # Over (H, W) first, then the rows: the same sum in two passes, each a contiguous reduction
  # that TensorFlow's CPU kernels run faster than one over three axes.
  if weights is None:
    return tf.reduce_mean(tf.reduce_mean(v, axis=[1, 2]), axis=0)
  return tf.reduce_sum(tf.reduce_sum(v, axis=[1, 2]) * weights[:, 0, 0], axis=0) / count


def _first_row_shift(x):
  """The first row's per-channel mean of `x` [B, H, W, C], held constant: subtracted before
  the statistics are summed, it keeps them accurate in float32 where a channel's mean is far
  above its spread (MaskedBatchNorm._statistics) and changes nothing else."""
  return tf.stop_gradient(tf.reduce_mean(x[:1], axis=_AXES))


def _kernel_serves(x, weights):
  """Whether TensorFlow's fused batch-norm gradient kernel can compute :func:`_backward` for
  `x`: every row real (the kernel has no row mask) and float32 (its CPU kernel has no float64,
  which the gradient tests use)."""
  return weights is None and x.dtype == tf.float32


def _kernel_backward(dy, x_hat, inverse):
  """:func:`_backward` of all-real float32 rows as one ``FusedBatchNormGradV2`` call.

  The kernel computes scale * rsqrt(var + eps) * (dy - mean(dy) - x' mean(dy x')) with
  x' = (x - mean) rsqrt(var + eps), the closed form itself; given x = x_hat, mean 0, variance
  1, eps 0 (so x' = x_hat and rsqrt(...) = 1: also where reserve_space_2 is read as an inverse
  variance, as cuDNN does) and scale = 1 / sigma, it returns exactly :func:`_backward`, beside
  sum(dy x_hat) and sum(dy), in one pass over dy where the closed form takes seven ops
  (2.2-2.7x faster on the [126, 32, 32, 32] and [126, 16, 16, 32] activations of a B task on a
  2-core CPU; the same error from float64, 1e-7).

  Returns:
    (dx, sum(dy * x_hat), sum(dy)), the sums per channel.
  """
  channels = x_hat.shape[-1]
  # V2, not V3: V3's reserve_space_3 is the forward kernel's workspace (cuDNN reads it on GPUs),
  # which a backward without that forward does not have. On the CPU both are the same kernel.
  dx, dy_x_hat, dy_sum, _, _ = tf.raw_ops.FusedBatchNormGradV2(
      y_backprop=dy, x=x_hat, scale=inverse, reserve_space_1=tf.zeros([channels], dy.dtype),
      reserve_space_2=tf.ones([channels], dy.dtype), epsilon=0.0, data_format='NHWC',
      is_training=True)
  return dx, dy_x_hat, dy_sum


def _values_per_channel(x):
  """B * H * W of `x` [B, H, W, C], in its dtype: what the means of all-real rows divide by."""
  return tf.cast(tf.size(x) // tf.shape(x)[-1], x.dtype)


def _backward(dy, x_hat, inverse, weights, count, extra=None):
  """The batch-norm backward of batch statistics in closed form: d loss / d x from dy.

  dx = (dy - mean(dy) - x_hat * mean(dy * x_hat)) / sigma, the derivative of
  x_hat = (x - mean(x)) / sigma, sigma = sqrt(var(x) + epsilon) (Ioffe & Szegedy, 2015,
  section 3, with the scale gamma = 1 as here), the means over the real rows. Rows of weight 0
  (padding) are outside the statistics: they only pass dy / sigma through, and their dy does
  not reach the real rows. `extra` [C], if given, is added to mean(dy * x_hat) (the
  variance's share of the statistics' own gradient, MaskedBatchNorm._statistics).
  """
  if _kernel_serves(dy, weights):
    dx, _, _ = _kernel_backward(dy, x_hat, inverse)
    return dx if extra is None else dx - x_hat * (inverse * extra)
  along_x_hat = _weighted_mean(dy * x_hat, weights, count)
  if extra is not None:
    along_x_hat = along_x_hat + extra
  if weights is None:
    return inverse * (dy - _weighted_mean(dy, None, count) - x_hat * along_x_hat)
  return inverse * (dy - weights * (_weighted_mean(dy, weights, count) + x_hat * along_x_hat))


def _second_order_backward(weights, count):
  """:func:`_backward` and the offset's gradient as a function of (dy, x_hat, 1 / sigma) whose
  own derivative (the second-order pass of an enclosing tape) is in closed form.

  With P = g_dx / sigma for the cotangent g_dx of dx, M1 = mean(dy), M2 = mean(dy x_hat) and
  the cotangent g_off of the offset's gradient sum(dy):
    d / d dy:      _backward(g_dx) + g_off  (the batch-norm backward is self-adjoint);
    d / d x_hat:   -w (M2 P + dy mean(P x_hat));
    d / d sigma^-1: sum(g_dx (dy - w (M1 + x_hat M2))), i.e. sum(g_dx dx) sigma.
  """

  @tf.custom_gradient
  def backward(dy, x_hat, inverse):
    if _kernel_serves(dy, weights):
      return _kernel_second_order(dy, x_hat, inverse)
    m1 = _weighted_mean(dy, weights, count)
    m2 = _weighted_mean(dy * x_hat, weights, count)
    if weights is None:
      bracket = dy - m1 - x_hat * m2
    else:
      bracket = dy - weights * (m1 + x_hat * m2)

    def grad(g_dx, g_offset):
      p = g_dx * inverse
      along = _weighted_mean(p * x_hat, weights, count)
      g_dy = _backward(g_dx, x_hat, inverse, weights, count)
      if g_offset is not None:
        g_dy = g_dy + g_offset
      g_x_hat = -(m2 * p + dy * along)
      if weights is not None:
        g_x_hat = weights * g_x_hat
      return g_dy, g_x_hat, tf.reduce_sum(g_dx * bracket, _AXES)

    return (inverse * bracket, tf.reduce_sum(dy, _AXES)), grad

  return backward


def _kernel_second_order(dy, x_hat, inverse):
  """The body of :func:`_second_order_backward`'s function where the fused kernel serves
  (:func:`_kernel_serves`): the same values and derivatives, each first-order backward one
  ``FusedBatchNormGradV2`` call (:func:`_kernel_backward`), which also gives the sums the
  derivatives need: mean(dy x_hat) = M2, and mean(P x_hat) = mean(g_dx x_hat) / sigma.
  d / d sigma^-1 = sum(g_dx dx) sigma, as dx = bracket / sigma.

  Returns:
    ((dx, sum(dy)), grad), as a ``tf.custom_gradient`` body.
  """
  dx, dy_x_hat, dy_sum = _kernel_backward(dy, x_hat, inverse)
  n = _values_per_channel(dy)
  m2 = dy_x_hat / n

  def grad(g_dx, g_offset):
    g_dy, g_dx_x_hat, _ = _kernel_backward(g_dx, x_hat, inverse)
    if g_offset is not None:
      g_dy = g_dy + g_offset
    along = inverse * g_dx_x_hat / n
    g_x_hat = g_dx * -(m2 * inverse) - dy * along
    return g_dy, g_x_hat, tf.reduce_sum(g_dx * dx, _AXES) / inverse

  return (dx, dy_sum), grad


class MaskedBatchNorm(keras.layers.Layer):
  """Transductive batch norm with a learnable offset and no scale, ignoring padding rows.

  As in MAML and the authors' code, statistics always come from the current batch (there are no
  running averages). Unlike the authors' code, rows whose mask is 0 do not enter the mean and
  variance, so a padded task normalises exactly like the unpadded one.

  The normalisation is one ``tf.custom_gradient`` function whose backward pass is the
  closed-form batch-norm backward (:func:`_backward`, a few ops) instead of the automatic
  derivative of the dozen ops of the forward pass (each mean and broadcast of which brings its
  own shape and reshape ops). An enclosing tape (the meta-gradient through the inner loop)
  differentiates that backward pass exactly (second order), also in closed form: the backward
  is itself a custom-gradient function of (dy, x_hat, 1 / sigma)
  (:func:`_second_order_backward`), and x_hat and 1 / sigma come from a third one
  (:meth:`_statistics`). The same numbers as the automatic derivatives of the forward pass, up
  to float rounding (tests/method/models/masked_batch_norm_test.py); a Bayesian TAML train step
  has 24% fewer ops, a MAML one 31%. Under the default thread pools (one intra-op thread per
  op) that makes train steps 1.05-1.11x faster, meta-tests 1.2-1.3x, with a fifth less memory
  above the floor on A training (docs/performance.md, "Levers measured on 2026-12-05"; under
  TensorFlow's default pools it had been level). Leaving the backward's own derivative to
  automatic differentiation saved only half as many ops. On rows that are all real, in float32,
  each first-order backward (the inner loop's, and the two that its second-order pass takes)
  is TensorFlow's fused gradient kernel, ``FusedBatchNormGradV2`` (:func:`_kernel_backward`):
  one op where the closed form takes seven, with the same error from float64; the derivatives
  around it stay in closed form, so the second order is exact as before. Train steps on B tasks
  1.15-1.31x faster (docs/performance.md, "Levers measured on 2026-12-07").

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

  def call(self, inputs, row_mask=None, fused=False):
    """Normalises `inputs` [B, H, W, C] with statistics over the rows where `row_mask` [B] is 1.

    Where `row_mask` is None every row is real: plain means, without the mask's
    multiplications (and theirs in the first- and second-order gradients).

    `fused=True` runs TensorFlow's fused batch-norm kernel instead of the closed form: one op
    forward and one (``FusedBatchNormGradV3``) backward, where the closed form takes a dozen
    of each. Its gradient is exact, but TensorFlow's derivative of that gradient is the
    generic one (many small ops), and the kernel has no row mask, so it serves only calls whose
    backward pass no tape differentiates (meta-test, first-order inner loops) on rows that are
    all real; a `row_mask` with it is a ValueError. The inputs are shifted by the first row's
    mean first, as :meth:`_statistics` does and for the same reason: without it the kernel's
    outputs were 2.5e-4 (relative) from float64 on Omniglot-like activations, with it 1e-5, as
    the closed form. That is for inputs that may carry a constant (a convolution with its
    bias); Conv4 leaves its biases out and calls :meth:`fused_kernel`, without the shift.
    """
    if fused:
      if row_mask is not None:
        raise ValueError('MaskedBatchNorm: fused=True needs every row real (row_mask=None); '
                         'the fused kernel cannot leave padding rows out of the statistics')
      outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
          inputs - _first_row_shift(inputs), scale=tf.ones([inputs.shape[-1]], inputs.dtype),
          offset=tf.convert_to_tensor(self.offset), epsilon=self.epsilon, is_training=True)
      return outputs
    if row_mask is None:
      weights = count = None
    else:
      weights = tf.cast(row_mask, inputs.dtype)[:, None, None, None]
      spatial = tf.cast(tf.shape(inputs)[1] * tf.shape(inputs)[2], inputs.dtype)
      count = tf.maximum(tf.reduce_sum(weights) * spatial, 1.0)
    second_order = self.second_order
    statistics = self._statistics(weights, count)
    backward = _second_order_backward(weights, count)

    @tf.custom_gradient
    def normalise(x, offset):
      x_hat, inverse = statistics(x)

      def grad(dy):
        if second_order:
          return backward(dy, x_hat, inverse)
        if _kernel_serves(dy, weights):
          dx, _, d_offset = _kernel_backward(dy, x_hat, inverse)
        else:
          dx, d_offset = _backward(dy, x_hat, inverse, weights, count), tf.reduce_sum(dy, _AXES)
        # Constants for enclosing tapes: the authors' training gradient (class docstring).
        return tf.stop_gradient(dx), tf.stop_gradient(d_offset)

      return x_hat + offset, grad

    return normalise(inputs, tf.convert_to_tensor(self.offset))

  def fused_kernel(self, inputs):
    """The fused kernel (`call`'s `fused=True`) without the first row's shift, in the dtype of
    `inputs`: for a block whose convolution left its bias out (Conv4 under `fused_norm`).

    Batch statistics subtract each channel's mean, so a convolution's bias changes nothing
    after them, and without it the shift has nothing to correct: the shift exists because the
    bias dominates the convolution's output on images with a constant background (a channel's
    mean 3.4 of its spread on the published Bayesian TAML's conv1, 0.64 without the bias). On
    that model's trained weights and a 75-row Omniglot support set, the kernel on the unbiased
    output is as close to float64 as the shifted kernel on the biased one at every layer
    (largest errors 1.8e-4, 1.5e-5, 3.3e-6, 1.2e-6 against 1.8e-4, 1.4e-5, 2.8e-6, 1.0e-6;
    docs/performance.md, the levers of 2026-12-07 late morning and afternoon).

    bfloat16 `inputs` (a mixed_bfloat16 block whose output feeds another bfloat16 convolution)
    stay bfloat16: the kernel reads bfloat16 and sums in float32, so this computes what
    casting to float32, normalising and casting back would, without the two Casts (and their
    gradients' two): the next convolution rounds its input to bfloat16 anyway, and max pooling
    and ReLU commute with rounding. Called directly, not through ``__call__``, whose
    autocasting would cast bfloat16 inputs to float32.

    Args:
      inputs: [B, H, W, C] float32 or bfloat16 with every row real, each channel's mean not
        far above its spread (no constant added, such as a convolution's bias).

    Returns:
      [B, H, W, C] in the dtype of `inputs`, normalised with batch statistics, plus the offset.
    """
    outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
        inputs, scale=tf.ones([inputs.shape[-1]], tf.float32),
        offset=tf.convert_to_tensor(self.offset, tf.float32), epsilon=self.epsilon,
        is_training=True)
    return outputs

  def normalise_with(self, inputs, mean, variance, second_order: bool = False):
    """(inputs - mean) / sqrt(variance + epsilon) + offset with statistics given, not taken
    from `inputs`: for a block whose statistics come from elsewhere (Conv4.first_block, which
    normalises after pooling).

    By default TensorFlow's fused kernel in inference mode, one op each way: its gradient
    kernel also returns sum(g x_hat) and sum(g), from which the statistics' own gradients
    follow (d mean = -sum(g) / sigma, d variance = -sum(g x_hat) / (2 sigma^2)), where
    TensorFlow's gradient of the inference kernel gives them none. First order only: for
    passes whose backward no tape differentiates (`fused_norm`). `second_order=True` computes
    the same with plain ops, whose derivatives of every order are TensorFlow's own (training).

    Args:
      inputs: [B, H, W, C] float32.
      mean, variance: [C] batch statistics.
      second_order: whether an enclosing tape differentiates the backward pass.

    Returns:
      [B, H, W, C].
    """
    epsilon = self.epsilon
    if second_order:
      return ((inputs - mean) * tf.math.rsqrt(variance + epsilon)
              + tf.convert_to_tensor(self.offset))
    ones = tf.ones([inputs.shape[-1]], inputs.dtype)

    @tf.custom_gradient
    def normalise(x, mean, variance, offset):
      y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
          x=x, scale=ones, offset=offset, mean=mean, variance=variance, epsilon=epsilon,
          exponential_avg_factor=1.0, data_format='NHWC', is_training=False)

      def grad(g):
        dx, d_scale, d_offset, _, _ = tf.raw_ops.FusedBatchNormGradV3(
            y_backprop=g, x=x, scale=ones, reserve_space_1=mean, reserve_space_2=variance,
            reserve_space_3=tf.zeros([0], x.dtype), epsilon=epsilon, data_format='NHWC',
            is_training=False)
        inverse = tf.math.rsqrt(variance + epsilon)
        return dx, -inverse * d_offset, -0.5 * tf.square(inverse) * d_scale, d_offset

      return y, grad

    return normalise(inputs, mean, variance, tf.convert_to_tensor(self.offset))

  def _statistics(self, weights, count):
    """A function x -> (x_hat, 1 / sigma) whose gradient is in closed form.

    The sums run over (x - shift), where the shift is the first row's per-channel mean held
    constant: mathematically the same statistics and gradients, but accurate in float32 when a
    channel's mean is far larger than its spread. That is the common case here: on images with
    a constant background (Omniglot) the conv outputs are nearly the bias everywhere, and summing
    the raw values (thousands of them) loses about 1e-5 of the mean, which batch norm divides by
    its spread; the error then differed with the summation order (XLA against TensorFlow's
    kernels), and after 5 inner steps it left the meta-gradients 3e-4 apart.

    The gradient is what an enclosing tape needs when it differentiates :func:`_backward`
    (which reads x_hat and 1 / sigma): with g_hat and g_inv the cotangents of x_hat and of
    1 / sigma, d sigma^-1 / d x = -w x_hat sigma^-2 / n, so
    dx = [g_hat - w (mean(g_hat) + x_hat (mean(g_hat x_hat) + g_inv / (sigma n)))] / sigma,
    w the row weights, n the number of values counted per channel.
    """
    epsilon = self.epsilon

    @tf.custom_gradient
    def statistics(x):
      centred = x - _first_row_shift(x)
      centred = centred - _weighted_mean(centred, weights, count)
      inverse = tf.math.rsqrt(_weighted_mean(tf.square(centred), weights, count) + epsilon)
      x_hat = centred * inverse

      def grad(g_hat, g_inverse):
        if g_inverse is None:
          return _backward(g_hat, x_hat, inverse, weights, count)
        # d sigma^-1 / d x_i = -w_i x_hat_i sigma^-2 / n: inside _backward's bracket (which
        # is multiplied by sigma^-1) that is x_hat_i times g_inverse sigma^-1 / n.
        n = count if weights is not None else _values_per_channel(x)
        return _backward(g_hat, x_hat, inverse, weights, count, g_inverse * inverse / n)

      return (x_hat, inverse), grad

    return statistics

  def get_config(self):
    return {**super().get_config(), 'epsilon': self.epsilon,
            'second_order': self.second_order}
