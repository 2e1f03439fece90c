"""Tests of how omega, gamma and z act (identities of eq. 2-4)."""

import numpy as np
import tensorflow as tf

from taml_tf.method import balancing, parameters
from taml_tf.method.models import posteriors


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
    convs = (parameters.Layer(tf.random.stateless_normal([3, 3, 1, 2], [1, 1]),
                              tf.constant([0.1, 0.2])),
             parameters.Layer(tf.random.stateless_normal([3, 3, 2, 2], [1, 2]),
                              tf.constant([0.3, 0.4])))
    same = balancing.modulate_init(convs, tf.zeros([8]))
    for a, b in zip(tf.nest.flatten(convs), tf.nest.flatten(same)):
      self.assertAllEqual(a, b)
    # mult (conv1 ch0, ch1, conv2 ch0, ch1), then add (the same order).
    z = tf.constant([1.0, -0.5, 0.0, 0.5, 0.3, -0.3, 0.0, 1.0])
    out = balancing.modulate_init(convs, z)
    self.assertAllClose(out[0].kernel[..., 0], convs[0].kernel[..., 0] * 2.0)
    self.assertAllClose(out[0].kernel[..., 1], convs[0].kernel[..., 1] * 0.5)
    self.assertAllClose(out[0].bias, [0.4, -0.1])
    self.assertAllClose(out[1].kernel[..., 0], convs[1].kernel[..., 0])
    self.assertAllClose(out[1].kernel[..., 1], convs[1].kernel[..., 1] * 1.5)
    self.assertAllClose(out[1].bias, [0.3, 1.4])
    self.assertIs(balancing.modulate_init(convs, None), convs)

  def test_zero_gamma_changes_nothing_and_gamma_scales_layers(self):
    base = (parameters.Layer(tf.fill([3, 3, 1, 2], 0.01), tf.fill([2], 0.02)),
            parameters.Layer(tf.fill([3, 3, 2, 2], 0.01), tf.fill([2], 0.02)),
            parameters.Layer(tf.fill([4, 1], 0.01), tf.fill([1], 0.02)))
    same = balancing.step_sizes(base, tf.zeros([3]))
    for a, b in zip(tf.nest.flatten(base), tf.nest.flatten(same)):
      self.assertAllClose(a, b)
    scaled = balancing.step_sizes(base, tf.constant([0.0, np.log(2.0), np.log(3.0)]))
    for layer, factor in zip(scaled, (1.0, 2.0, 3.0)):
      self.assertAllClose(layer.kernel, tf.fill(tf.shape(layer.kernel), 0.01 * factor))
      self.assertAllClose(layer.bias, tf.fill(tf.shape(layer.bias), 0.02 * factor))
    fixed = balancing.step_sizes(balancing.fixed_step_sizes(0.5, 3),
                                 tf.constant([0.0, np.log(2.0), np.log(3.0)]))
    self.assertAllClose(tf.nest.flatten(fixed), [0.5, 0.5, 1.0, 1.0, 1.5, 1.5], atol=1e-6)


  def test_recorded_values_follow_the_table(self):
    bal = posteriors.Balancing(omega=tf.constant([0.0, 1.0, 5.0]),
                               gamma=tf.constant([0.0, 1.0]), z=None)
    got = balancing.recorded_values(bal, tf.constant([1.0, 1.0, 0.0]))
    self.assertEqual(sorted(got), ['exp_gamma', 'omega'])
    e = np.exp(1.0)
    self.assertAllClose(got['omega'], [1 / (1 + e), e / (1 + e), 0.0], atol=1e-6)
    self.assertAllClose(got['exp_gamma'], [1.0, e], atol=1e-6)
    z = tf.constant([0.3, -0.2])
    self.assertAllClose(balancing.recorded_values(posteriors.Balancing(z=z), None)['z'], z)
    for variable in posteriors.VARIABLES:
      self.assertIn(variable.recorded_form, posteriors.RECORDED_FORMS)


if __name__ == '__main__':
  tf.test.main()
