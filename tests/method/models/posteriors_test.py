"""Tests of the balancing-variable posteriors."""

import numpy as np
import tensorflow as tf
from absl import flags

from taml_tf.flags import definitions
from taml_tf.method import config as config_lib
from taml_tf.method.models import posteriors
from taml_tf.method.models.set_encoder import SetEncoder


class PosteriorsTest(tf.test.TestCase):

  def test_kl_is_zero_at_prior_and_positive_elsewhere(self):
    # softplus(0.5413248) = 1: the prior itself.
    at_prior = posteriors.posterior(tf.zeros([4]), tf.fill([4], 0.5413248))
    self.assertAllClose(posteriors.kl_to_prior(at_prior), 0.0, atol=1e-5)
    for loc, pre in ((1.0, 0.5413248), (0.0, -2.0), (-0.3, 3.0)):
      dist = posteriors.posterior(tf.fill([3], loc), tf.fill([3], pre))
      self.assertGreater(float(posteriors.kl_to_prior(dist)), 0.0)

  def test_kl_matches_closed_form_and_respects_mask(self):
    loc, pre = tf.constant([0.5, -1.0, 2.0]), tf.constant([0.1, -0.5, 1.0])
    scale = tf.nn.softplus(pre)
    expected = 0.5 * (scale ** 2 + loc ** 2 - 1.0) - tf.math.log(scale)
    dist = posteriors.posterior(loc, pre)
    self.assertAllClose(posteriors.kl_to_prior(dist), tf.reduce_sum(expected), atol=1e-5)
    self.assertAllClose(posteriors.kl_to_prior(dist, tf.constant([1.0, 1.0, 0.0])),
                        tf.reduce_sum(expected[:2]), atol=1e-5)

  def test_samples_are_stateless_and_reparameterised(self):
    loc, pre = tf.constant([0.5, -1.0]), tf.constant([0.1, -0.5])
    seed = tf.constant([3, 4])
    a = posteriors.draw(posteriors.posterior(loc, pre), 'sample', seed)
    b = posteriors.draw(posteriors.posterior(loc, pre), 'sample', seed)
    c = posteriors.draw(posteriors.posterior(loc, pre), 'sample', tf.constant([3, 5]))
    self.assertAllEqual(a, b)
    self.assertNotAllClose(a, c)
    self.assertAllEqual(posteriors.draw(posteriors.posterior(loc, pre), 'mean', seed), loc)
    with tf.GradientTape() as tape:
      tape.watch([loc, pre])
      total = tf.reduce_sum(posteriors.draw(posteriors.posterior(loc, pre), 'sample', seed))
    grads = tape.gradient(total, [loc, pre])
    self.assertAllClose(grads[0], [1.0, 1.0])
    self.assertGreater(float(tf.reduce_sum(tf.abs(grads[1]))), 0.0)

  def test_noise_is_standard_normal(self):
    noise = posteriors.standard_normal(20000, tf.constant([1, 2])).numpy()
    self.assertAllClose([noise.mean(), noise.std()], [0.0, 1.0], atol=0.03)
    self.assertTrue(np.all(np.isfinite(noise)))
    self.assertAllClose(np.mean(np.abs(noise) > 1.96), 0.05, atol=0.01)

  def test_noise_is_finite_and_symmetric_at_the_edges_of_the_bits(self):
    # All-ones bits are the largest u: finite (docs/bug_history.md, the non-finite draw).
    edges = [0, 1, 255, 256, 2**31 - 1, 2**31, 2**32 - 257, 2**32 - 256, 2**32 - 2, 2**32 - 1]
    bits = tf.constant(edges, tf.uint32)
    noise = posteriors.normal_from_bits(bits).numpy()
    self.assertTrue(np.all(np.isfinite(noise)), noise)
    self.assertLess(np.max(np.abs(noise)), 5.43)
    self.assertAllEqual(noise, -posteriors.normal_from_bits(tf.bitwise.invert(bits)).numpy())
    self.assertAllEqual(noise[:3], noise[:1].repeat(3))  # the low 8 bits are dropped
    # A random stream: still exactly antisymmetric under bit inversion.
    stream = tf.random.stateless_uniform([4096], seed=[5, 6], minval=None, maxval=None,
                                         dtype=tf.uint32, alg='philox')
    self.assertAllEqual(posteriors.normal_from_bits(stream),
                        -posteriors.normal_from_bits(tf.bitwise.invert(stream)))

  def test_sampling_compiles_with_xla(self):
    fn = tf.function(lambda l, p, s: posteriors.draw(posteriors.posterior(l, p), 'sample', s),
                     jit_compile=True)
    out = fn(tf.zeros([5]), tf.zeros([5]), tf.constant([1, 2]))
    self.assertEqual(out.shape, [5])
    self.assertAllEqual(out, fn(tf.zeros([5]), tf.zeros([5]), tf.constant([1, 2])))
    # The same seed gives the same sample with and without XLA.
    eager = posteriors.draw(posteriors.posterior(tf.zeros([5]), tf.zeros([5])), 'sample',
                            tf.constant([1, 2]))
    self.assertAllClose(out, eager, atol=1e-6)


if __name__ == '__main__':
  tf.test.main()


class VariablesTableTest(tf.test.TestCase):
  """posteriors.VARIABLES is the one table the switches, the encoder's heads, the noise, the
  KL and the command-line switches come from."""

  def test_switches_follow_the_variants(self):
    for name, switches in config_lib.VARIANTS.items():
      with self.subTest(name):
        on = posteriors.switched_on(config_lib.variant(name))
        self.assertEqual(on._asdict(), {k: switches[f'{k}_on'] for k in on._fields})

  def test_sizes_and_the_encoders_heads(self):
    config = config_lib.variant('bayesian_taml', channels=4, num_blocks=2)
    self.assertEqual(posteriors.sizes(config),
                     posteriors.Balancing(omega=5, gamma=3, z=16))
    encoder = SetEncoder(config.num_layers, config.z_dim, config.max_shot, channels=4,
                         features=8)
    x = tf.zeros([4, 16, 16, 1])
    out = encoder(x, tf.constant([0, 0, 1, 1]), tf.ones([4]), tf.constant([1., 1., 0., 0., 0.]))
    # Per class: one value per class slot; per task: the variable's length.
    self.assertEqual([int(loc.shape[0]) for loc, _ in out], [5, 3, 16])

  def test_every_switch_is_a_flag(self):
    values = flags.FlagValues()
    definitions.define_shared_flags(values)
    for variable in posteriors.VARIABLES:
      self.assertIn(variable.switch, values)
