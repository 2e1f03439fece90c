"""Tests of the training diagnostics: posterior scales, effective inner steps, KL weights."""

import keras
import numpy as np
import tensorflow as tf

from taml_tf.method import episodes
from taml_tf.method.learner import MetaLearner
from taml_tf.method.models import posteriors
from taml_tf.products import diagnostics
from tests import tasks
from tests.helpers import tiny_config


def padded_task(seed, shots):
  return tasks.omniglot_task(np.random.default_rng(seed), shots, queries=2, max_way=5,
                             support_size=25, query_size=10)


class DiagnosticsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(3)
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

  def test_encoder_activity_shows_dead_conv2_units(self):
    s = diagnostics.summarize(self.learner, self.tasks)
    self.assertLen(s['encoder_active'], 2)
    self.assertBetween(s['encoder_active'][0], 0.05, 0.95)
    self.assertBetween(s['encoder_active'][1], 0.05, 0.95)
    self.assertGreater(s['encoder_feature_spread'], 1e-4)
    # Every conv2 ReLU switched off (as the authors' initialisation ends up on Omniglot): the
    # features no longer depend on the image.
    conv2 = self.learner.encoder.instance[2]
    saved = conv2.bias.numpy()
    conv2.bias.assign(tf.fill(conv2.bias.shape, -1e3))
    try:
      dead = diagnostics.summarize(self.learner, self.tasks)
    finally:
      conv2.bias.assign(saved)
    self.assertAllClose(dead['encoder_active'], [s['encoder_active'][0], 0.0])
    self.assertLess(dead['encoder_feature_spread'], 1e-6)
    self.assertIn('- encoder_active (conv1, conv2): ', diagnostics.markdown(dead))

  def test_maml_has_the_fixed_step_and_no_posterior(self):
    maml = MetaLearner(tiny_config('maml', num_blocks=2, inner_lr=0.4))
    s = diagnostics.summarize(maml, self.tasks[:1])
    self.assertAllClose(s['alpha'], [0.4] * 3)
    for key in ('sigma_omega', 'mu_gamma', 'sigma_z', 'effective_step_at_mean',
                'encoder_active'):
      self.assertNotIn(key, s)
    with self.assertRaisesRegex(ValueError, 'at least one task'):
      diagnostics.summarize(maml, [])


class TrajectoryMarkdownTest(tf.test.TestCase):

  def test_one_row_per_step_with_conv_means(self):
    layers = ['conv1', 'conv2', 'head']
    bayes = lambda k: dict(layers=layers, sigma_omega=0.4 / k, sigma_z=1.0,
                           sigma_gamma=[0.9, 0.7, 0.2], alpha=[0.01, 0.03, 0.06],
                           effective_step_at_mean=[0.02, 0.04, 0.5 * k],
                           effective_step_sampled_mean=[0.03, 0.05, 0.6],
                           encoder_active=[0.3, 0.5 / k])
    text = diagnostics.trajectory_markdown({2000: bayes(2), 500: bayes(1)}, 'bayes')
    rows = [line for line in text.splitlines() if line.startswith('| ') and
            line[2].isdigit()]
    self.assertEqual([r.split(' | ')[0] for r in rows], ['| 500', '| 2000'])  # sorted
    self.assertIn('| step | sigma omega | sigma z | sigma gamma conv1 | sigma gamma conv2 | '
                  'sigma gamma head | alpha, conv mean |', text)
    self.assertEqual(rows[1],
                     '| 2000 | 0.2 | 1 | 0.9 | 0.7 | 0.2 | 0.02 | 0.06 | 0.03 | 0.04 | 1 | 0.25 |')
    # Meta-SGD has no posterior: only its step sizes are tabulated.
    metasgd = dict(layers=layers, alpha=[0.01, 0.05, 0.2])
    text = diagnostics.trajectory_markdown({500: metasgd}, 'metasgd')
    self.assertIn('| step | alpha, conv mean | alpha, head |\n', text)
    self.assertIn('| 500 | 0.03 | 0.2 |', text)
    with self.assertRaisesRegex(ValueError, 'no summaries'):
      diagnostics.trajectory_markdown({}, 'none')


if __name__ == '__main__':
  tf.test.main()
