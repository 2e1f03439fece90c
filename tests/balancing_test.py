"""Tests of how omega, gamma and z act (identities of eq. 2-4)."""

import numpy as np
import tensorflow as tf

from taml_tf import balancing


class BalancingTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.logits = tf.constant(rng.normal(size=(9, 4)).astype(np.float32))
    self.labels = tf.constant([0, 0, 0, 0, 1, 2, 2, 0, 0], tf.int32)
    self.row_mask = tf.constant([1, 1, 1, 1, 1, 1, 1, 0, 0], tf.float32)
    self.class_mask = tf.constant([1, 1, 1, 0], tf.float32)

  def mean_ce(self):
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=self.labels[:7], logits=self.logits[:7, :3])
    return tf.reduce_mean(ce)

  def test_no_omega_is_the_mean_loss(self):
    loss = balancing.weighted_inner_loss(self.logits, self.labels, self.row_mask,
                                         self.class_mask)
    self.assertAllClose(loss, self.mean_ce(), atol=1e-6)

  def test_zero_omega_is_the_mean_loss(self):
    loss = balancing.weighted_inner_loss(self.logits, self.labels, self.row_mask,
                                         self.class_mask, omega=tf.zeros([4]))
    self.assertAllClose(loss, self.mean_ce(), atol=1e-6)

  def test_omega_weights_classes(self):
    omega = tf.constant([0.0, 3.0, -1.0, 50.0])  # the padding class must be ignored
    weights = balancing.class_weights(omega, self.class_mask)
    self.assertAllClose(tf.reduce_sum(weights), 1.0)
    self.assertEqual(float(weights[3]), 0.0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self.labels[:7],
                                                        logits=self.logits[:7, :3]).numpy()
    per_class = np.array([ce[[0, 1, 2, 3]].sum(), ce[[4]].sum(), ce[[5, 6]].sum()]) * 3 / 7
    expected = float(np.sum(weights.numpy()[:3] * per_class))
    loss = balancing.weighted_inner_loss(self.logits, self.labels, self.row_mask,
                                         self.class_mask, omega)
    self.assertAllClose(loss, expected, atol=1e-5)

  def test_zero_z_changes_nothing_and_z_modulates_per_channel(self):
    params = {'conv1/kernel': tf.random.stateless_normal([3, 3, 1, 2], [1, 1]),
              'conv1/bias': tf.constant([0.1, 0.2]),
              'head/kernel': tf.ones([2, 3])}
    same = balancing.modulate_init(params, tf.zeros([4]), channels=2, num_blocks=1)
    for k in params:
      self.assertAllEqual(params[k], same[k])
    z = tf.constant([1.0, -0.5, 0.3, -0.3])  # mult (ch0, ch1), add (ch0, ch1)
    out = balancing.modulate_init(params, z, channels=2, num_blocks=1)
    self.assertAllClose(out['conv1/kernel'][..., 0], params['conv1/kernel'][..., 0] * 2.0)
    self.assertAllClose(out['conv1/kernel'][..., 1], params['conv1/kernel'][..., 1] * 0.5)
    self.assertAllClose(out['conv1/bias'], [0.4, -0.1])
    self.assertAllEqual(out['head/kernel'], params['head/kernel'])

  def test_zero_gamma_changes_nothing_and_gamma_scales_layers(self):
    names = ['conv1/kernel', 'conv2/bias', 'head/kernel']
    base = {n: tf.constant(0.01) for n in names}
    same = balancing.step_sizes(names, base, tf.zeros([3]), num_blocks=2)
    for n in names:
      self.assertAllClose(same[n], 0.01)
    scaled = balancing.step_sizes(names, 0.5, tf.constant([0.0, np.log(2.0), np.log(3.0)]),
                                  num_blocks=2)
    self.assertAllClose([scaled[n] for n in names], [0.5, 1.0, 1.5], atol=1e-6)

  def test_layer_index(self):
    self.assertEqual(balancing.layer_index('conv3/kernel', 4), 2)
    self.assertEqual(balancing.layer_index('head/bias', 4), 4)
    with self.assertRaisesRegex(ValueError, 'belongs to no layer'):
      balancing.layer_index('norm1/offset', 4)


if __name__ == '__main__':
  tf.test.main()
