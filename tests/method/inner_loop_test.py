"""Tests of the inner loop."""

import keras
import numpy as np
import tensorflow as tf

from taml_tf.method import balancing, inner_loop, parameters
from taml_tf.method.models import posteriors
from taml_tf.method.models.backbone import Conv4
from tests import tasks


class InnerLoopTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.net = Conv4(channels=4).build_for((28, 28, 1))
    ep = tasks.omniglot_task(np.random.default_rng(0), [2, 3, 1])
    self.ep = ep
    f = self.net.feature_size((28, 28, 1))
    head = parameters.Layer(tf.zeros([f, 3]), tf.zeros([3]))
    # The references below index parameters by name; the inner loop takes the structure.
    self.params = parameters.to_dict(
        tf.nest.map_structure(tf.convert_to_tensor, self.net.adaptable_params()) + (head,))

  def adapt(self, num_steps, lr=0.1, omega=None):
    steps = balancing.fixed_step_sizes(lr, 5)
    out = inner_loop.adapt(self.net, parameters.from_dict(self.params, 4), steps,
                           self.ep.support_images, self.ep.support_labels,
                           self.ep.support_mask, self.ep.class_mask,
                           bal=posteriors.Balancing(omega=omega),
                           num_steps=num_steps)
    return parameters.to_dict(out)

  def test_zero_steps_return_theta(self):
    out = self.adapt(0)
    for k in self.params:
      self.assertAllEqual(out[k], self.params[k])

  def test_one_step_is_hand_written_sgd(self):
    # From the zero head one step moves the head only (conv gradients are exactly zero), so
    # this checks the plain mean-CE loss and the head's step; the conv updates are checked
    # by the multi-step test below.
    with tf.GradientTape() as tape:
      tape.watch(list(self.params.values()))
      x = tf.constant(self.ep.support_images)
      for l in range(1, 5):
        x = tf.nn.conv2d(x, self.params[f'conv{l}/kernel'], 1, 'SAME')
        x = x + self.params[f'conv{l}/bias']
        mean, var = tf.nn.moments(x, [0, 1, 2])
        x = tf.nn.relu((x - mean) / tf.sqrt(var + 1e-3))  # offsets are zero at init
        x = tf.nn.max_pool2d(x, 2, 2, 'VALID')
      features = tf.reshape(x, [x.shape[0], -1])
      logits = tf.matmul(features, self.params['head/kernel']) + self.params['head/bias']
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=self.ep.support_labels, logits=logits))
    grads = tape.gradient(loss, self.params)
    out = self.adapt(1, lr=0.1)
    for k in self.params:
      self.assertAllClose(out[k], self.params[k] - 0.1 * grads[k], atol=1e-6, msg=k)
    # The zero head moved: the step is not a no-op.
    self.assertGreater(float(tf.reduce_max(tf.abs(out['head/kernel']))), 0.0)

  def test_several_balanced_steps_are_hand_written_sgd(self):
    """K = 3 steps with omega, gamma and a per-parameter alpha against a hand-written loop.

    One step from the zero head moves the head only (every conv gradient is exactly zero
    while the head is zero), so the conv entries of the one-step test compare theta with
    theta. From the second step on the conv kernels move, each by exp(gamma_l) * alpha times
    its gradient, so a wrong step size of any layer shows here. Per-layer gammas differ, the
    task has a padding class, and omega is far from uniform.
    """
    ep = tasks.omniglot_task(np.random.default_rng(0), [2, 3, 1], max_way=4)
    f = self.net.feature_size((28, 28, 1))
    theta = dict(self.params, **{'head/kernel': tf.zeros([f, 4]), 'head/bias': tf.zeros([4])})
    rng = np.random.default_rng(1)
    alpha = {k: tf.constant(rng.uniform(0.05, 0.15, size=v.shape), tf.float32)
             for k, v in theta.items()}
    # The learner's head alpha is one column shared by the classes (broadcast over them).
    alpha['head/kernel'] = tf.constant(rng.uniform(0.05, 0.15, size=(f, 1)), tf.float32)
    gamma = tf.constant([0.4, -0.3, 0.6, 0.2, -0.5])  # conv1..conv4, head
    omega = tf.constant([1.0, -0.5, 0.3, 2.0])  # the last class is padding
    num_steps = 3

    # Reference: the layers written out, the loss of weighted_inner_loss, and the step
    # sizes exp(gamma_l) * alpha written here (not taken from balancing.step_sizes).
    layer_of = lambda k: 4 if k.startswith('head/') else int(k[len('conv')]) - 1
    params = dict(theta)
    for _ in range(num_steps):
      with tf.GradientTape() as tape:
        tape.watch(list(params.values()))
        x = tf.constant(ep.support_images)
        for l in range(1, 5):
          x = tf.nn.conv2d(x, params[f'conv{l}/kernel'], 1, 'SAME') + params[f'conv{l}/bias']
          mean, var = tf.nn.moments(x, [0, 1, 2])
          x = tf.nn.relu((x - mean) / tf.sqrt(var + 1e-3))  # offsets are zero at init
          x = tf.nn.max_pool2d(x, 2, 2, 'VALID')
        logits = tf.matmul(tf.reshape(x, [x.shape[0], -1]), params['head/kernel'])
        logits += params['head/bias']
        loss = balancing.weighted_inner_loss(logits, ep.support_labels, ep.support_mask,
                                             ep.class_mask, omega)
      grads = tape.gradient(loss, params)
      params = {k: params[k] - tf.exp(gamma[layer_of(k)]) * alpha[k] * grads[k]
                for k in params}

    steps = balancing.step_sizes(parameters.from_dict(alpha, 4), gamma)
    out = inner_loop.adapt(self.net, parameters.from_dict(theta, 4), steps, ep.support_images,
                           ep.support_labels, ep.support_mask, ep.class_mask,
                           bal=posteriors.Balancing(omega=omega),
                           num_steps=num_steps)
    out = parameters.to_dict(out)
    for k in theta:
      self.assertAllClose(out[k], params[k], atol=1e-5, rtol=1e-4, msg=k)
      if k.endswith('kernel'):
        # Every kernel moved by far more than the tolerance: the comparison has teeth.
        self.assertGreater(float(tf.reduce_max(tf.abs(out[k] - theta[k]))), 3e-3, k)

  def test_first_order_on_real_rows_fuses_batch_norm_and_keeps_the_values(self):
    # Meta-test's inner loop (first order, padding dropped) runs batch norm as TensorFlow's
    # fused kernel, after convolutions without their biases; the exact path (what training
    # differentiates twice) keeps the closed form in blocks 2-4. On real rows both take the
    # first block from its images' patch moments. Either way the adapted weights are the same
    # up to float rounding.
    steps = balancing.fixed_step_sizes(0.5, 5)

    def adapt_fn(first_order, rows_all_real):
      return tf.function(lambda: inner_loop.adapt(
          self.net, parameters.from_dict(self.params, 4), steps, self.ep.support_images,
          self.ep.support_labels, self.ep.support_mask, self.ep.class_mask, num_steps=3,
          first_order=first_order, rows_all_real=rows_all_real))

    outputs, fused_ops = {}, {}
    for first_order, rows_all_real in ((False, True), (True, False), (True, True)):
      fn = adapt_fn(first_order, rows_all_real)
      ops = fn.get_concrete_function().graph.get_operations()
      # The fused kernel in training mode (its own statistics), and the patch moments' padding
      # of the support images (backbone.patch_moments).
      fused_ops[first_order, rows_all_real] = (
          sum(op.type == 'FusedBatchNormV3' and op.get_attr('is_training') for op in ops),
          sum(op.type == 'Pad' for op in ops))
      outputs[first_order, rows_all_real] = parameters.to_dict(fn())
    # The fused kernel only where both hold: 3 steps x blocks 2-4; on real rows, first or
    # second order, the first block from its images' patch moments (Conv4.first_block),
    # computed once for the 3 steps.
    self.assertEqual(fused_ops, {(False, True): (0, 1), (True, False): (0, 0),
                                 (True, True): (9, 1)})
    exact = outputs[False, True]
    for k in exact:
      if k.startswith('conv') and k.endswith('bias'):
        # Batch statistics cancel a conv bias, so its gradient is zero: every path leaves the
        # biases out (Conv4's conv_without_bias) and keeps them exactly.
        for key in outputs:
          self.assertAllEqual(outputs[key][k], self.params[k], msg=(k, key))
        continue
      for key in ((True, False), (True, True)):
        self.assertAllClose(outputs[key][k], exact[k], atol=1e-5, rtol=1e-4, msg=(k, key))
    # The steps moved the conv kernels by far more than the tolerance.
    self.assertGreater(float(tf.reduce_max(tf.abs(exact['conv2/kernel']
                                                  - self.params['conv2/kernel']))), 1e-3)

  def test_steps_reduce_the_support_loss(self):
    def loss(params):
      logits = inner_loop.forward(self.net, parameters.from_dict(params, 4),
                                  self.ep.support_images,
                                  self.ep.support_mask, self.ep.class_mask)
      return float(balancing.weighted_inner_loss(logits, self.ep.support_labels,
                                                 self.ep.support_mask, self.ep.class_mask))
    self.assertLess(loss(self.adapt(5, lr=0.5)), loss(self.params) - 0.1)


class RecomputeTest(tf.test.TestCase):
  """``recompute=True`` must give the same adapted weights and the same meta-gradient."""

  def meta_gradients(self, recompute, function):
    keras.utils.set_random_seed(3)
    net = Conv4(channels=4).build_for((28, 28, 1))
    ep = tasks.omniglot_task(np.random.default_rng(1), [2, 4, 3])
    theta = net.adaptable_params()
    f = net.feature_size((28, 28, 1))
    alpha = tf.Variable(tf.fill([2 * len(theta) + 2], 0.05))
    gamma = tf.Variable([0.1, -0.2, 0.3, 0.0, 0.2])
    omega = tf.Variable([0.5, -0.5, 0.1])
    offsets = [v for v in net.trainable_variables if 'offset' in v.path]
    watched = tf.nest.flatten(theta) + offsets + [alpha, gamma, omega]

    def run():
      with tf.GradientTape() as tape:
        params = tf.nest.map_structure(tf.convert_to_tensor, theta) + (
            parameters.Layer(tf.zeros([f, 3]), tf.zeros([3])),)
        base = tf.nest.pack_sequence_as(params, tf.unstack(alpha))
        steps = balancing.step_sizes(base, gamma)
        out = inner_loop.adapt(net, params, steps, ep.support_images, ep.support_labels,
                               ep.support_mask, ep.class_mask,
                               bal=posteriors.Balancing(omega=omega), num_steps=3,
                               recompute=recompute)
        logits = inner_loop.forward(net, out, ep.query_images, ep.query_mask, ep.class_mask)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=ep.query_labels, logits=logits))
      # Zeros for the conv biases, which no path reads (Conv4's conv_without_bias).
      return out, tape.gradient(loss, [v.value if isinstance(v, keras.Variable) else v
                                       for v in watched],
                                unconnected_gradients=tf.UnconnectedGradients.ZERO)

    return (tf.function(run) if function else run)()

  def test_same_update_and_meta_gradient(self):
    for function in (False, True):
      plain, plain_grads = self.meta_gradients(False, function)
      again, again_grads = self.meta_gradients(True, function)
      for i, (a, b) in enumerate(zip(tf.nest.flatten(plain), tf.nest.flatten(again))):
        self.assertAllClose(a, b, atol=1e-6, msg=f'parameter {i}')
      self.assertLen(again_grads, len(plain_grads))
      for i, (a, b) in enumerate(zip(plain_grads, again_grads)):
        self.assertIsNotNone(b, msg=f'gradient {i} lost under recompute')
        self.assertAllClose(a, b, rtol=1e-4, atol=1e-6, msg=f'gradient {i}')
      # Second-order terms are present: the step sizes and omega get real gradients.
      self.assertGreater(float(tf.reduce_max(tf.abs(again_grads[-1]))), 0.0)
      self.assertGreater(float(tf.reduce_max(tf.abs(again_grads[-2]))), 0.0)


if __name__ == '__main__':
  tf.test.main()
