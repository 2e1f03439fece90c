"""Tests of the conv4 backbone, its pooling and its masked batch norm."""

from unittest import mock

import keras
import numpy as np
import tensorflow as tf

from taml_tf.method.models.backbone import Conv4
from taml_tf.method.models.backbone import conv_without_bias
from taml_tf.method.models.backbone import first_block_statistics
from taml_tf.method.models.backbone import kernel_max_pool_2x2
from taml_tf.method.models.backbone import max_pool_2x2
from taml_tf.method.models.backbone import patch_moments
from taml_tf.method.models.masked_batch_norm import MaskedBatchNorm
from tests import real_data
from tests import tasks

# The unread conv biases' gradients (Conv4's conv_without_bias) as zeros, not None.
ZERO = tf.UnconnectedGradients.ZERO


class MaskedBatchNormTest(tf.test.TestCase):

  def test_padding_rows_do_not_change_statistics(self):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 4, 3)).astype(np.float32)
    padded = np.concatenate([x, 100 * np.ones((3, 4, 4, 3), np.float32)])
    mask = np.array([1] * 6 + [0] * 3, np.float32)
    bn = MaskedBatchNorm()
    out = bn(tf.constant(x))
    out_padded = bn(tf.constant(padded), row_mask=tf.constant(mask))
    self.assertAllClose(out, out_padded[:6], atol=1e-5)
    # Without the mask the padding rows would shift the statistics.
    self.assertGreater(np.abs(bn(tf.constant(padded))[:6] - out).max(), 0.1)

  def test_normalises_with_batch_statistics_and_offset(self):
    x = tf.random.stateless_normal((8, 3, 3, 2), seed=[1, 2]) * 5 + 3
    bn = MaskedBatchNorm(epsilon=1e-6)
    bn.build(x.shape)
    bn.offset.assign([0.5, -1.0])
    out = bn(x)
    self.assertAllClose(tf.reduce_mean(out, [0, 1, 2]), [0.5, -1.0], atol=1e-4)
    self.assertAllClose(tf.math.reduce_std(out, [0, 1, 2]), [1.0, 1.0], atol=1e-3)

  def test_statistics_are_accurate_when_the_mean_dwarfs_the_spread(self):
    # Conv outputs on a constant background: every value near the bias, spread 1e-3. Summing
    # 25,000 raw values loses ~1e-5 of the mean, which batch norm divides by the spread.
    rng = np.random.default_rng(1)
    x = (1.75 + 1e-3 * rng.normal(size=(4, 28, 28, 8))).astype(np.float32)
    mask = np.array([1, 1, 1, 0], np.float32)
    out = MaskedBatchNorm()(tf.constant(x), row_mask=tf.constant(mask)).numpy()
    real = x[:3].astype(np.float64)
    mean = real.mean((0, 1, 2))
    expected = (real - mean) / np.sqrt(((real - mean) ** 2).mean((0, 1, 2)) + 1e-3)
    self.assertLess(np.abs(out[:3] - expected).max(), 2e-6)


class MaxPoolTest(tf.test.TestCase):

  def test_matches_the_max_pool_kernel_with_ties(self):
    # Integer-valued inputs: most windows have tied maxima, and the gradient must go to the
    # same one as the kernel's (the first in row-major order). Odd sizes drop the last row.
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 3, size=(2, 7, 9, 3)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=(2, 3, 4, 3)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      ours = max_pool_2x2(x)
      kernel = tf.nn.max_pool2d(x, 2, 2, 'VALID')
    self.assertAllEqual(ours, kernel)
    self.assertAllEqual(tape.gradient(ours, x, upstream), tape.gradient(kernel, x, upstream))

  def test_both_poolings_give_the_same_features_and_gradients(self):
    keras.utils.set_random_seed(6)
    kernel = Conv4(channels=8).build_for((28, 28, 1))
    elementwise = Conv4(channels=8, pooling='elementwise').build_for((28, 28, 1))
    for a, b in zip(kernel.weights, elementwise.weights):
      b.assign(a)
    images = tf.constant(real_data.omniglot_characters()[:2, :3].reshape(6, 28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, kernel.adaptable_params())
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(tf.nest.flatten(params))
      outs = [tf.reduce_sum(tf.square(net.apply(params, images))) for net in (kernel, elementwise)]
    self.assertAllEqual(outs[0], outs[1])
    for g, h in zip(*[tf.nest.flatten(tape.gradient(o, params, unconnected_gradients=ZERO))
                      for o in outs]):
      self.assertAllClose(g, h, rtol=1e-6, atol=1e-9)
    with self.assertRaisesRegex(ValueError, "pooling must be one of.*'average'"):
      Conv4(pooling='average')

  def test_second_order_gradient_is_the_same_under_xla(self):
    """XLA's MaxPoolGradGrad picks maxima by the bfloat16-rounded input; ours must not.

    A Hessian-vector product through the backbone on real Omniglot characters (constant
    background, so windows hold near-equal values), compiled and not: with pooling='kernel'
    (tf.nn.max_pool2d) the two differ by about 1%.
    """
    keras.utils.set_random_seed(3)
    net = Conv4(channels=8, pooling='elementwise').build_for((28, 28, 1))
    images = tf.constant(real_data.omniglot_characters()[:3, :4].reshape(12, 28, 28, 1))
    params = tf.nest.flatten(tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params()))
    rng = np.random.default_rng(4)
    directions = [tf.constant(rng.normal(size=p.shape).astype(np.float32)) for p in params]
    weights = tf.constant(rng.normal(size=(12, net.feature_size((28, 28, 1)))).astype(np.float32))

    def hessian_vector_product(params):
      with tf.GradientTape() as outer:
        outer.watch(params)
        with tf.GradientTape() as inner:
          inner.watch(params)
          layers = tf.nest.pack_sequence_as(net.adaptable_params(), params)
          loss = tf.reduce_sum(weights * tf.tanh(net.apply(layers, images)))
        grads = inner.gradient(loss, params, unconnected_gradients=ZERO)
        projected = tf.add_n([tf.reduce_sum(g * d) for g, d in zip(grads, directions)])
      return outer.gradient(projected, params, unconnected_gradients=ZERO)

    plain = hessian_vector_product(params)
    compiled = tf.function(hessian_vector_product, jit_compile=True)(params)
    # Conv biases are not read (conv_without_bias): their gradient and Hessian rows are 0.
    kernels = slice(0, None, 2)
    a, b = tasks.flat_gradients(compiled[kernels]), tasks.flat_gradients(plain[kernels])
    # 5e-5: XLA's fused kernels round differently (1.3e-5 on an AMD EPYC, 2026-11-27); a wrong
    # pool gradient is off by order 1.
    self.assertLess(np.linalg.norm(a - b) / np.linalg.norm(b), 5e-5)


class KernelMaxPoolTest(tf.test.TestCase):
  """kernel_max_pool_2x2 (pooling='kernel'): TensorFlow's max pooling, values and derivatives to
  the bit, with its second order computed by average pooling instead of MaxPoolGradGrad."""

  def derivatives(self, pool, x, upstream, cotangent):
    """The pooled values, the first-order gradient and its derivatives in upstream and x."""
    with tf.GradientTape(persistent=True) as outer:
      outer.watch([x, upstream])
      with tf.GradientTape() as inner:
        inner.watch(x)
        pooled = pool(x)
      grad = inner.gradient(pooled, x, upstream)
      projected = tf.reduce_sum(grad * cotangent)
    d_upstream, d_x = outer.gradient(projected, [upstream, x],
                                     unconnected_gradients=ZERO)
    return pooled, grad, d_upstream, d_x

  def test_same_values_and_derivatives_as_tensorflows_max_pool(self):
    # Integer-valued inputs: most windows have tied maxima, where the second-order term must
    # go to the first maximum like the first-order one. Odd sizes drop the last row/column.
    rng = np.random.default_rng(8)
    for dtype in (tf.float32, tf.float64):
      for shape in ((2, 7, 9, 3), (3, 28, 28, 4)):
        x = tf.constant(rng.integers(0, 3, size=shape), dtype)
        out_shape = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
        upstream = tf.constant(rng.normal(size=out_shape), dtype)
        cotangent = tf.constant(rng.normal(size=shape), dtype)
        ours = self.derivatives(kernel_max_pool_2x2, x, upstream, cotangent)
        reference = self.derivatives(lambda v: tf.nn.max_pool2d(v, 2, 2, 'VALID'), x, upstream,
                                     cotangent)
        for name, a, b in zip(('values', 'gradient', 'd/d upstream', 'd/d x'), ours, reference):
          with self.subTest(dtype=dtype.name, shape=shape, part=name):
            self.assertEqual(a.dtype, dtype)
            self.assertAllEqual(a, b)
        self.assertGreater(float(tf.reduce_max(tf.abs(ours[2]))), 0.0)

  def test_no_max_pool_grad_grad_in_a_second_order_gradient(self):
    x = tf.random.stateless_normal((2, 8, 8, 3), seed=[1, 1])
    upstream = tf.ones((2, 4, 4, 3))

    @tf.function
    def second_order(x, upstream):
      return self.derivatives(kernel_max_pool_2x2, x, upstream, x)[2]

    ops = {op.type for op in second_order.get_concrete_function(x, upstream).graph.get_operations()}
    self.assertNotIn('MaxPoolGradGrad', ops)
    self.assertIn('AvgPool', ops)


class PoolBeforeReluTest(tf.test.TestCase):
  """Conv4 pools before its ReLU (a quarter of the values for the ReLU and its gradients):
  the same features, gradients and second-order terms, to the bit, as the ReLU first. With a
  row mask, so that every block normalises the activation (without one the first block pools
  before normalising: FirstBlockTest)."""

  def relu_then_pool(self, net, images, row_mask):
    x = images
    for conv, norm in zip(net.convs, net.norms):
      x = net.pool(tf.nn.relu(norm(conv_without_bias(conv, x), row_mask=row_mask)))
    return net.flatten(x)

  def test_same_values_and_derivatives_as_relu_first(self):
    # Real characters (constant background: windows of tied values, some above 0 after batch
    # norm, some at or below it), eager so that both orders run the same kernels.
    images = tf.constant(real_data.omniglot_characters()[:3, :4].reshape(12, 28, 28, 1))
    rng = np.random.default_rng(5)
    for pooling in ('kernel', 'elementwise'):
      keras.utils.set_random_seed(7)
      net = Conv4(channels=8, pooling=pooling).build_for((28, 28, 1))
      weights = tf.constant(rng.normal(size=(12, net.feature_size((28, 28, 1)))), tf.float32)
      # The tf.Variables: the unread conv biases' zero gradients are built from their dtype,
      # which Keras variables report as a string.
      variables = [v.value for v in net.trainable_variables]
      directions = [tf.constant(rng.normal(size=v.shape), tf.float32) for v in variables]
      results = []
      mask = tf.ones([12])
      for forward in (lambda x, net=net: net(x, row_mask=mask),
                      lambda x, net=net: self.relu_then_pool(net, x, mask)):
        with tf.GradientTape() as outer:
          with tf.GradientTape() as inner:
            features = forward(images)
            loss = tf.reduce_sum(weights * tf.tanh(features))
          grads = inner.gradient(loss, variables, unconnected_gradients=ZERO)
          projected = tf.add_n([tf.reduce_sum(g * d) for g, d in zip(grads, directions)])
        results.append([features] + grads
                       + outer.gradient(projected, variables, unconnected_gradients=ZERO))
      for i, (a, b) in enumerate(zip(*results)):
        with self.subTest(pooling=pooling, part=i):
          self.assertAllEqual(a, b)
      self.assertGreater(float(tf.reduce_mean(tf.cast(results[0][0] == 0, tf.float32))), 0.1)


class Conv4Test(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.images = real_data.omniglot_characters()[:3, :4].reshape(12, 28, 28, 1)

  def test_feature_size_matches_output(self):
    for shape in [(28, 28, 1), (32, 32, 3), (84, 84, 3)]:
      net = Conv4(channels=8).build_for(shape)
      features = net(tf.zeros((2,) + shape))
      self.assertEqual(features.shape[-1], net.feature_size(shape))
    self.assertEqual(Conv4(32).feature_size((84, 84, 3)), 800)

  def test_apply_with_own_weights_equals_call(self):
    net = Conv4(channels=8).build_for((28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    self.assertAllClose(net(self.images), net.apply(params, self.images), atol=1e-5)
    with self.assertRaisesRegex(ValueError, 'needs 4 conv layers, got 3'):
      net.apply(params[:3], self.images)

  def test_fused_norm_refuses_a_row_mask(self):
    # The fused kernel has no row mask: a padded batch would normalise with its padding rows.
    net = Conv4(channels=8).build_for((28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    with self.assertRaisesRegex(ValueError, 'fused_norm needs every row real'):
      net.apply(params, self.images, row_mask=tf.ones([12]), fused_norm=True)

  def test_apply_uses_given_tensors_and_leaves_variables_alone(self):
    net = Conv4(channels=8).build_for((28, 28, 1))
    before = [v.numpy().copy() for v in net.variables]
    params = tf.nest.map_structure(lambda v: tf.convert_to_tensor(v) * 2.0,
                                   net.adaptable_params())
    changed = net.apply(params, self.images)
    self.assertGreater(np.abs(changed - net(self.images)).max(), 1e-3)
    for b, v in zip(before, net.variables):
      self.assertAllEqual(b, v.numpy())

  def test_gradient_reaches_given_tensors(self):
    """Gradients reach the given kernels and the model's offsets; conv biases get none.

    Batch norm with batch statistics subtracts the per-channel mean, which cancels the conv
    bias exactly: its true gradient is 0, and since the convolutions leave the biases out
    (conv_without_bias) the tape's is exactly 0 too, where reading them gave rounding noise
    (about 1e-4 of the kernel gradient here). The kernels and the batch-norm offsets get real
    gradients, and since the given tensors equal the variables, the gradients must equal those
    of the model's own call.
    """
    net = Conv4(channels=8).build_for((28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    offsets = [norm.offset.value for norm in net.norms]
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(tf.nest.flatten(params))
      loss = tf.reduce_sum(tf.square(net.apply(params, self.images)))
      own_loss = tf.reduce_sum(tf.square(net(self.images)))
    grads, offset_grads = tape.gradient(loss, (params, offsets), unconnected_gradients=ZERO)
    own = tape.gradient(own_loss, [v.value for v in tf.nest.flatten(net.adaptable_params())],
                        unconnected_gradients=ZERO)
    for i, (g, g_own) in enumerate(zip(tf.nest.flatten(grads), own)):
      self.assertAllClose(g, g_own, atol=1e-3, rtol=1e-4, msg=f'parameter {i}')
    for l in range(1, 5):
      kernel = float(tf.reduce_max(tf.abs(grads[l - 1].kernel)))
      self.assertGreater(kernel, 10.0, f'conv{l}/kernel')  # measured 230..420
      self.assertAllEqual(grads[l - 1].bias, tf.zeros_like(grads[l - 1].bias),
                          msg=f'conv{l}/bias')
      self.assertGreater(float(tf.reduce_max(tf.abs(offset_grads[l - 1]))), 1.0,
                         f'norm{l}/offset')

  def test_fused_norm_leaves_the_biases_out_and_keeps_the_values(self):
    # Under fused_norm (meta-test's first-order inner loop) the convolutions run without their
    # biases, which batch statistics cancel: with biases 30 (far above conv1's spread, ~0.05 at
    # this initialisation: float32 statistics summed without the shift would lose it, and
    # float32 holds 30 + x to only ~2e-6) the features and kernel gradients are those of the
    # closed form with zero biases to float rounding, and each bias gradient is exactly zero,
    # not rounding noise.
    net = Conv4(channels=8).build_for((28, 28, 1))
    for norm in net.norms:
      norm.offset.assign(tf.random.stateless_normal(norm.offset.shape, seed=[0, 1]))

    def features_and_gradients(fused_norm, bias):
      params = tuple(type(p)(tf.convert_to_tensor(p.kernel), tf.fill(p.bias.shape, bias))
                     for p in net.adaptable_params())
      with tf.GradientTape() as tape:
        tape.watch(tf.nest.flatten(params))
        features = net.apply(params, self.images, fused_norm=fused_norm)
        loss = tf.reduce_sum(tf.square(features))
      return features, tape.gradient(loss, params,
                                     unconnected_gradients=ZERO)

    fused, closed = features_and_gradients(True, 30.0), features_and_gradients(False, 0.0)
    self.assertAllClose(fused[0], closed[0], atol=1e-4, rtol=1e-4)
    for l, (g, g_closed) in enumerate(zip(fused[1], closed[1]), start=1):
      scale = float(tf.reduce_max(tf.abs(g_closed.kernel)))
      self.assertGreater(scale, 1.0, f'conv{l}/kernel')
      self.assertAllClose(g.kernel / scale, g_closed.kernel / scale, atol=1e-4,
                          msg=f'conv{l}/kernel')
      self.assertAllEqual(g.bias, tf.zeros_like(g.bias), msg=f'conv{l}/bias')


class FirstBlockTest(tf.test.TestCase):
  """Meta-test's first block (Conv4.first_block): conv1's batch statistics from its images'
  patch moments, pooling before the normalisation."""

  def setUp(self):
    super().setUp()
    self.omniglot = tf.constant(real_data.omniglot_characters()[:3, :4].reshape(12, 28, 28, 1))
    rng = np.random.default_rng(3)
    self.colour = tf.constant(rng.random((7, 32, 32, 3)), tf.float32)  # the peers' B pixels

  def test_patch_moments_give_conv1s_batch_statistics(self):
    for images in (self.omniglot, self.colour):
      kernel = tf.random.stateless_normal([3, 3, images.shape[-1], 8], [0, 2], stddev=0.3)
      mean, variance = first_block_statistics(kernel, patch_moments(images, (3, 3)))
      # float64 moments of the convolution itself ('same' padding: the border's patches
      # hold zeros, as the convolution's).
      y = tf.nn.conv2d(tf.cast(images, tf.float64), tf.cast(kernel, tf.float64), 1, 'SAME')
      want_mean, want_variance = tf.nn.moments(y, [0, 1, 2])
      self.assertAllClose(mean, want_mean, atol=1e-7, rtol=1e-6)
      self.assertAllClose(variance, want_variance, atol=1e-7, rtol=1e-6)
      self.assertGreater(float(tf.reduce_min(want_variance)), 1e-3)

  def test_same_values_and_kernel_gradient_as_normalising_then_pooling(self):
    # Pooled, then normalised with the moments' statistics, against the closed-form batch norm
    # (what training differentiates) followed by pooling, in float64: the same block output and
    # the same gradient in conv1's kernel, whose statistics terms now come through the moments.
    net = Conv4(channels=8).build_for((28, 28, 1))
    net.norms[0].offset.assign(tf.random.stateless_normal([8], seed=[0, 4]))
    upstream = tf.random.stateless_normal([12, 14, 14, 8], [0, 5], dtype=tf.float64)

    def output_and_gradient(dtype):
      kernel = tf.cast(net.convs[0].kernel, dtype)
      images = tf.cast(self.omniglot, dtype)
      with tf.GradientTape() as tape:
        tape.watch(kernel)
        if dtype == tf.float32:
          y = tf.nn.conv2d(images, kernel, 1, 'SAME')
          # As under Conv4.apply's stateless call: the layer's kernel reads the adapted tensor.
          with keras.StatelessScope(state_mapping=[(net.convs[0].kernel, kernel)]):
            out = net.first_block(y, images)
        else:
          out = _float64_first_block(net, images, kernel)
        loss = tf.reduce_sum(tf.cast(out, tf.float64) * upstream)
      return out, tape.gradient(loss, kernel)

    ours, want = output_and_gradient(tf.float32), output_and_gradient(tf.float64)
    for got, exact in zip(ours, want):
      scale = float(tf.reduce_max(tf.abs(exact)))
      self.assertGreater(scale, 1.0)
      self.assertLess(float(tf.reduce_max(tf.abs(tf.cast(got, tf.float64) - exact))),
                      2e-5 * scale)

  def test_training_first_block_has_the_closed_forms_derivatives_of_every_order(self):
    # A differentiated pass on all-real rows (training's inner loop) takes the first block from
    # the moments too, with plain ops: the features, the inner gradient and its derivative (a
    # Hessian-vector product, what the meta-gradient takes through every inner step) equal
    # those of the closed-form batch norm over the activation (row_mask of ones: the masked
    # statistics, the same numbers, without the moments), to float32 rounding.
    net = Conv4(channels=8).build_for((28, 28, 1))
    for norm in net.norms:
      norm.offset.assign(tf.random.stateless_normal(norm.offset.shape, seed=[0, 6]))
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    kernels = [p.kernel for p in params]
    directions = [tf.random.stateless_normal(k.shape, [1, i]) for i, k in enumerate(kernels)]
    targets = tf.random.stateless_normal([12, net.feature_size((28, 28, 1))], [0, 7])

    @tf.function
    def derivatives(row_mask):
      with tf.GradientTape() as outer:
        outer.watch(kernels)
        with tf.GradientTape() as inner:
          inner.watch(kernels)
          features = net.apply(params, self.omniglot, row_mask=row_mask)
          loss = tf.reduce_sum(tf.square(features - targets))
        grads = inner.gradient(loss, kernels)
        along = tf.add_n([tf.reduce_sum(g * d) for g, d in zip(grads, directions)])
      return [features] + grads + outer.gradient(along, kernels)

    ours, closed = derivatives(None), derivatives(tf.ones([12]))
    for i, (got, want) in enumerate(zip(ours, closed)):
      scale = float(tf.reduce_max(tf.abs(want)))
      self.assertGreater(scale, 1e-2, f'part {i}')
      self.assertAllClose(got / scale, want / scale, atol=2e-5, msg=f'part {i}')
    # On conv1's [12, 28, 28, 8] output only the pooling's second order (kernel_max_pool_2x2:
    # the routing of ones, Fill, times the cotangent) besides the convolution and pooling
    # kernels; the closed form adds its normalisation and backward there (Sub, Square, ...).
    shape = [12, 28, 28, 8]
    self.assertLessEqual(_ops_on(derivatives.get_concrete_function(None).graph, shape),
                         {'Fill', 'Mul'})
    self.assertIn('Sub', _ops_on(derivatives.get_concrete_function(tf.ones([12])).graph, shape))

  def test_training_first_block_gradient_is_a_float64_blocks_on_a_trained_like_state(self):
    # Trained conv1 kernels are small: their output's variance sits at or below batch norm's
    # epsilon, and three quarters of Omniglot's pixels are 0. There the closed form over the
    # float32 activation (the code before the first block from moments) put conv1's inner
    # gradient 2-4e-5 of its scale from a float64 first block, and 500 training updates follow
    # that error (docs/performance.md, the calibration of 2026-12-08); the first block from
    # moments must stay within 1e-5. The reference: the same network and loss with the first
    # block (convolution, batch statistics, normalisation, pooling) in float64.
    images = tf.constant(real_data.omniglot_characters()[:5, :14].reshape(70, 28, 28, 1))
    labels = tf.constant(np.repeat(np.arange(5), 14), tf.int32)
    net = Conv4(channels=32).build_for((28, 28, 1))
    for i, norm in enumerate(net.norms):
      norm.offset.assign(0.3 * tf.random.stateless_normal([32], seed=[1, i]))
    head = tf.random.stateless_normal([net.feature_size((28, 28, 1)), 5], [1, 9], stddev=0.1)
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    kernel = tf.random.stateless_normal([3, 3, 1, 32], [1, 2], stddev=0.05)
    params = (params[0]._replace(kernel=kernel),) + params[1:]

    def loss_of(features):
      return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels, tf.matmul(features, head)))

    with tf.GradientTape() as tape:
      tape.watch(kernel)
      loss = loss_of(net.apply(params, images))  # all rows real, a differentiated pass
    ours = tape.gradient(loss, kernel)

    kernel64 = tf.cast(kernel, tf.float64)
    _, variance = tf.nn.moments(tf.nn.conv2d(tf.cast(images, tf.float64), kernel64, 1, 'SAME'),
                                [0, 1, 2])
    self.assertLess(float(tf.reduce_max(variance)), 10 * net.bn_epsilon)
    with tf.GradientTape() as tape:
      tape.watch(kernel64)
      x = tf.nn.relu(tf.cast(_float64_first_block(net, images, kernel64), tf.float32))
      for conv, norm in zip(net.convs[1:], net.norms[1:]):  # blocks 2-4 as the model's
        x = tf.nn.relu(net.pool(norm(conv_without_bias(conv, x))))
      loss = loss_of(net.flatten(x))
    want = tape.gradient(loss, kernel64)
    scale = float(tf.reduce_max(tf.abs(want)))
    self.assertGreater(scale, 1e-2)
    error = float(tf.reduce_max(tf.abs(tf.cast(ours, tf.float64) - want))) / scale
    self.assertLess(error, 1e-5)

  def test_fused_norm_runs_no_batch_norm_kernel_on_the_first_block(self):
    net = Conv4(channels=8).build_for((28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, net.adaptable_params())
    graph = tf.function(lambda: net.apply(params, self.omniglot, fused_norm=True)
                        ).get_concrete_function().graph
    self.assertEqual(_fused_norms(graph), {True: 3, False: 1})  # blocks 2-4; block 1's
    # mixed_bfloat16 keeps its bfloat16 blocks (conv1's output is bfloat16): no moments.
    half = Conv4(channels=8, precision='mixed_bfloat16').build_for((28, 28, 1))
    graph = tf.function(lambda: half.apply(params, self.omniglot, fused_norm=True)
                        ).get_concrete_function().graph
    self.assertEqual(_fused_norms(graph), {True: 4, False: 0})


def _float64_first_block(net, images, kernel):
  """`net`'s first block computed in float64 from `images` and conv1 `kernel`: convolution,
  batch norm with the batch's statistics and the first norm's offset (the closed form), 2x2 max
  pooling; the reference Conv4.first_block is held to. Differentiable in `kernel`."""
  reference = MaskedBatchNorm(net.bn_epsilon, dtype='float64')
  reference.build((None, images.shape[1], images.shape[2], kernel.shape[-1]))
  reference.offset.assign(tf.cast(net.norms[0].offset, tf.float64))
  y = tf.nn.conv2d(tf.cast(images, tf.float64), tf.cast(kernel, tf.float64), 1, 'SAME')
  return tf.nn.max_pool2d(reference(y), 2, 2, 'VALID')


def _ops_on(graph, shape):
  """Types of the ops of `graph` (and of the functions it calls) other than convolutions,
  pooling and their gradients, that output a tensor of `shape`: what runs on an activation of
  that shape besides them."""
  allowed = ('Conv2D', 'MaxPool', 'Identity', 'Cast', 'Shape', 'ZerosLike', 'OnesLike')
  graphs = [graph] + [f.graph for f in getattr(graph, '_functions', {}).values()
                      if hasattr(f, 'graph')]
  return {op.type for g in graphs for op in g.get_operations()
          if any(out.shape.as_list() == list(shape) for out in op.outputs)
          and not op.type.startswith(allowed)}


def _fused_norms(graph):
  """FusedBatchNormV3 ops of `graph` (and the functions it calls: a custom gradient's body) by
  their is_training: their own statistics (True) or given ones (False)."""
  counts = {True: 0, False: 0}
  graphs = [graph] + [f.graph for f in getattr(graph, '_functions', {}).values()
                      if hasattr(f, 'graph')]
  for g in graphs:
    for op in g.get_operations():
      if op.type == 'FusedBatchNormV3':
        counts[op.get_attr('is_training')] += 1
  return counts


class Conv4PrecisionTest(tf.test.TestCase):
  """mixed_bfloat16: bfloat16 convolutions, float32 variables, features and gradients."""

  def test_bfloat16_convolutions_close_to_float32(self):
    keras.utils.set_random_seed(0)
    full = Conv4(channels=8).build_for((28, 28, 1))
    half = Conv4(channels=8, precision='mixed_bfloat16').build_for((28, 28, 1))
    for a, b in zip(full.weights, half.weights):
      self.assertEqual(b.dtype, 'float32', msg=b.path)
      b.assign(a)
    self.assertEqual(half.convs[0].compute_dtype, 'bfloat16')
    images = tf.constant(real_data.omniglot_characters()[:2, :5].reshape(10, 28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, half.adaptable_params())
    with tf.GradientTape() as tape:
      tape.watch(tf.nest.flatten(params))
      features = half.apply(params, images)
      loss = tf.reduce_sum(tf.square(features))
    grads = tape.gradient(loss, params, unconnected_gradients=ZERO)
    expected = full.apply(params, images)
    self.assertEqual(features.dtype, tf.float32)
    for i, g in enumerate(tf.nest.flatten(grads)):
      self.assertEqual(g.dtype, tf.float32, msg=f'parameter {i}')
    error = float(tf.reduce_max(tf.abs(features - expected)))
    scale = float(tf.reduce_max(tf.abs(expected)))
    # bfloat16 keeps 8 bits of mantissa: the features differ (the convolutions really ran in
    # bfloat16) by a few parts in a thousand of their scale, not more.
    self.assertGreater(error, 1e-5 * scale)
    self.assertLess(error, 0.05 * scale)


  def test_fused_bfloat16_blocks_stay_bfloat16(self):
    # With fused_norm (meta-test's first-order inner loop) the blocks feeding another
    # convolution run batch norm, pooling and ReLU in bfloat16 (fused_kernel): no
    # Casts between them, and the numbers of the float32 kernel between casts (the path
    # before) to within bfloat16's rounding, which is far below bfloat16's distance from float32.
    keras.utils.set_random_seed(0)
    full = Conv4(channels=8).build_for((28, 28, 1))
    half = Conv4(channels=8, precision='mixed_bfloat16').build_for((28, 28, 1))
    for norm in full.norms:  # nonzero offsets, so that one left out would show
      norm.offset.assign(tf.random.stateless_normal(norm.offset.shape, seed=[0, 1]))
    for a, b in zip(full.weights, half.weights):
      b.assign(a)
    images = tf.constant(real_data.omniglot_characters()[:2, :5].reshape(10, 28, 28, 1))
    params = tf.nest.map_structure(tf.convert_to_tensor, half.adaptable_params())

    def features_and_gradients(model, params):
      with tf.GradientTape() as tape:
        tape.watch(tf.nest.flatten(params))
        features = model.apply(params, images, fused_norm=True)
        loss = tf.reduce_sum(tf.square(features))
      return [features] + tf.nest.flatten(
          tape.gradient(loss, params, unconnected_gradients=ZERO))

    def between_casts(norm, x):
      return tf.cast(norm(tf.cast(x, tf.float32), fused=True), x.dtype)

    ours = features_and_gradients(half, params)
    with mock.patch.object(MaskedBatchNorm, 'fused_kernel', between_casts):
      casts = features_and_gradients(half, params)
    float32 = features_and_gradients(full, params)
    # Features, then each conv's kernel and bias gradients; a bias is not read, its gradient
    # is zero on every path, so only the kernels' are compared.
    for i in [0, 1, 3, 5, 7]:
      with self.subTest(part=i):
        self.assertEqual(ours[i].dtype, tf.float32)
        scale = float(tf.reduce_max(tf.abs(float32[i])))
        from_casts = float(tf.reduce_max(tf.abs(ours[i] - casts[i]))) / scale
        bfloat16 = float(tf.reduce_max(tf.abs(casts[i] - float32[i]))) / scale
        self.assertGreater(bfloat16, 1e-4)  # the convolutions did run in bfloat16
        self.assertLess(from_casts, 0.3 * bfloat16)

    graph = tf.function(features_and_gradients).get_concrete_function(half, params).graph
    ops = [op.type for op in graph.get_operations()]
    self.assertEqual(ops.count('FusedBatchNormV3'), 4)
    # Besides the casts of the float32 kernels [3, 3, in, out] and of their gradients: the
    # images into conv1, conv4's output into its float32 batch norm and conv4's cotangent back
    # to bfloat16.
    between_blocks = [op.name for op in graph.get_operations() if op.type == 'Cast'
                      and op.outputs[0].shape[:2] != (3, 3)]
    self.assertLessEqual(len(between_blocks), 3, between_blocks)


class Conv4ConfigTest(tf.test.TestCase):

  def test_from_config_builds_the_same_network(self):
    net = Conv4(channels=6, num_blocks=3, bn_epsilon=1e-5, bn_second_order=False,
                precision='mixed_bfloat16', pooling='elementwise', name='features')
    config = net.get_config()
    self.assertEqual({k: config[k] for k in ('channels', 'num_blocks', 'bn_epsilon',
                                             'bn_second_order', 'precision', 'pooling')},
                     dict(channels=6, num_blocks=3, bn_epsilon=1e-5, bn_second_order=False,
                          precision='mixed_bfloat16', pooling='elementwise'))
    clone = Conv4.from_config(config)
    self.assertEqual(clone.get_config(), config)
    self.assertEqual(clone.name, 'features')
    images = tf.zeros((2, 20, 20, 1))
    for model in (net, clone):
      model.build_for((20, 20, 1))
    self.assertEqual(net(images).shape, clone(images).shape)
    self.assertEqual([(v.path, v.shape, v.dtype) for v in net.weights],
                     [(v.path, v.shape, v.dtype) for v in clone.weights])
    self.assertEqual([layer.dtype_policy.name for layer in clone.convs],
                     ['mixed_bfloat16'] * 3)


if __name__ == '__main__':
  tf.test.main()
