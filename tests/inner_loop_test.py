"""Tests of the inner loop."""

import numpy as np
import tensorflow as tf

from taml_tf import balancing, inner_loop
from taml_tf.models.backbone import Conv4
from tests import tasks


class InnerLoopTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.net = Conv4(channels=4).build_for((28, 28, 1))
    ep = tasks.omniglot_task(np.random.default_rng(0), [2, 3, 1])
    self.ep = ep
    self.params = {k: tf.convert_to_tensor(v) for k, v in self.net.adaptable_variables().items()}
    f = self.net.feature_size((28, 28, 1))
    self.params['head/kernel'] = tf.zeros([f, 3])
    self.params['head/bias'] = tf.zeros([3])

  def adapt(self, num_steps, lr=0.1, omega=None):
    steps = balancing.step_sizes(self.params, lr, None, 4)
    return inner_loop.adapt(self.net, self.params, steps, self.ep.support_images,
                            self.ep.support_labels, self.ep.support_mask, self.ep.class_mask,
                            omega=omega, num_steps=num_steps)

  def test_zero_steps_return_theta(self):
    out = self.adapt(0)
    for k in self.params:
      self.assertAllEqual(out[k], self.params[k])

  def test_one_step_is_hand_written_sgd(self):
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

  def test_steps_reduce_the_support_loss(self):
    def loss(params):
      logits = inner_loop.forward(self.net, params, self.ep.support_images,
                                  self.ep.support_mask, self.ep.class_mask)
      return float(balancing.weighted_inner_loss(logits, self.ep.support_labels,
                                                 self.ep.support_mask, self.ep.class_mask))
    self.assertLess(loss(self.adapt(5, lr=0.5)), loss(self.params) - 0.1)


if __name__ == '__main__':
  tf.test.main()
