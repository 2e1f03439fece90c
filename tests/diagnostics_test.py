"""Tests of the training diagnostics: posterior scales, effective inner steps, KL weights."""

import numpy as np
import tensorflow as tf

from taml_tf import diagnostics
from taml_tf import episodes
from taml_tf.learner import MetaLearner
from taml_tf.models import posteriors
from tests import tasks
from tests.learner_test import tiny_config


def padded_task(seed, shots):
  return tasks.omniglot_task(np.random.default_rng(seed), shots, queries=2, max_way=5,
                             support_size=25, query_size=10)


class DiagnosticsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    tf.keras.utils.set_random_seed(3)
    cls.learner = MetaLearner(tiny_config(num_blocks=2, image_shape=(28, 28, 1)))
    # Per-parameter alphas that differ by layer, so a layer mix-up shows.
    for value, layer in zip((0.02, 0.03, 0.07), cls.learner.alpha_params()):
      for v in layer:
        v.assign(tf.fill(v.shape, value))
    cls.tasks = [padded_task(1, [1, 3, 2]), padded_task(2, [2, 2, 1, 4])]

  def test_per_layer_alpha_and_kl_weights(self):
    s = diagnostics.summarize(self.learner, self.tasks)
    self.assertEqual(s['layers'], ['conv1', 'conv2', 'head'])
    self.assertAllClose(s['alpha'], [0.02, 0.03, 0.07])
    # Real counts: (6 + 6) and (9 + 8) rows; padded as the authors: way * max_shot (5) support
    # rows plus the queries.
    self.assertAllClose(s['kl_weight_real'], np.mean([1 / 12, 1 / 17]))
    self.assertAllClose(s['kl_weight_padded'], np.mean([1 / 21, 1 / 28]))

  def test_effective_steps_match_the_posterior_and_its_samples(self):
    s = diagnostics.summarize(self.learner, self.tasks[:1])
    task = episodes.to_tensors(self.tasks[0])
    q = self.learner.posterior(task.support_images, task.support_labels, task.support_mask,
                               task.class_mask).gamma
    mu, sigma = q.loc.numpy(), q.scale.numpy()
    alpha = np.array([0.02, 0.03, 0.07])
    self.assertAllClose(s['mu_gamma'], mu)
    self.assertAllClose(s['sigma_gamma'], sigma)
    self.assertAllClose(s['effective_step_at_mean'], alpha * np.exp(mu), rtol=1e-5)
    # Against the sampler the training uses: the mean and the 10% / 90% quantiles of exp(gamma).
    seeds = tf.stack([tf.range(4000), tf.fill([4000], 7)], axis=1)
    draws = np.exp(tf.function(lambda seeds: tf.map_fn(
        lambda seed: posteriors.draw(q, 'sample', seed), seeds,
        fn_output_signature=tf.float32))(seeds).numpy())
    self.assertAllClose(s['effective_step_sampled_mean'], alpha * draws.mean(0), rtol=0.05)
    below_p10 = (draws < np.asarray(s['multiplier_p10'])).mean(0)
    above_p90 = (draws > np.asarray(s['multiplier_p90'])).mean(0)
    self.assertAllClose(below_p10, [0.1] * 3, atol=0.025)
    self.assertAllClose(above_p90, [0.1] * 3, atol=0.025)
    self.assertIn('| effective_step_at_mean |', diagnostics.markdown(s))

  def test_maml_has_the_fixed_step_and_no_posterior(self):
    maml = MetaLearner(tiny_config('maml', num_blocks=2, inner_lr=0.4))
    s = diagnostics.summarize(maml, self.tasks[:1])
    self.assertAllClose(s['alpha'], [0.4] * 3)
    for key in ('sigma_omega', 'mu_gamma', 'sigma_z', 'effective_step_at_mean'):
      self.assertNotIn(key, s)
    with self.assertRaisesRegex(ValueError, 'at least one task'):
      diagnostics.summarize(maml, [])


if __name__ == '__main__':
  tf.test.main()
