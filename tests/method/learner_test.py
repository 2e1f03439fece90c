"""Tests of the meta-learner: padding invariance, meta-gradients, padding under XLA settings,
permutations, Monte-Carlo prediction and the objective (the train step that runs it:
tests/execution/trainer_test.py)."""

import json

import keras
import numpy as np
import tensorflow as tf

from taml_tf.execution import execution_config
from taml_tf.method import episodes
from taml_tf.method import learner as learner_lib
from taml_tf.method.config import ModelConfig
from taml_tf.method.learner import MetaLearner
from tests import tasks
from tests.helpers import tiny_config

SEED = tf.constant([7, 11], tf.int32)


class PaddingInvarianceTest(tf.test.TestCase):
  """A padded task gives the same logits, loss and gradients as the same task unpadded."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(0)
    cls.learner = MetaLearner(tiny_config())

  def test_padded_task_matches_unpadded(self):
    rng = np.random.default_rng(3)
    chars = rng.choice(964, 3, replace=False)
    shots = [1, 4, 2]
    plain = tasks.omniglot_task(np.random.default_rng(9), shots, queries=3, characters=chars)
    padded = tasks.omniglot_task(np.random.default_rng(9), shots, queries=3, characters=chars,
                                 max_way=5, support_size=25, query_size=15)
    plain_t, padded_t = episodes.to_tensors(plain), episodes.to_tensors(padded)
    out_a = self.learner.task_output(plain_t, SEED)
    out_b = self.learner.task_output(padded_t, SEED)
    self.assertAllClose(out_a.logits, out_b.logits[:9, :3], atol=1e-4)
    self.assertAllClose(out_a.cross_entropy, out_b.cross_entropy, atol=1e-5)
    self.assertAllClose(out_a.kl, out_b.kl, atol=1e-4)
    self.assertAllClose(out_a.balancing.omega, out_b.balancing.omega[:3], atol=1e-5)
    grads_a, m_a = self.learner.compute_gradients(tasks.batch_of(plain), SEED)
    grads_b, m_b = self.learner.compute_gradients(tasks.batch_of(padded), SEED)
    self.assertAllClose(m_a['loss'], m_b['loss'], atol=1e-5)
    for v, ga, gb in zip(self.learner.meta_variables, grads_a, grads_b):
      self.assertAllClose(ga, gb, atol=2e-4, rtol=2e-3, msg=v.path)
    self.assertGreater(np.abs(tasks.flat_gradients(grads_a)).sum(), 0.0)

  def test_masked_support_path_matches_unpadded(self):
    """The padded support rows themselves, masked, change nothing (5 steps, every variable on).

    Without static shapes the learner drops support padding before any masked code runs
    (MetaLearner.real_support), so the test above never runs the masked support path. With
    static_shapes=True (XLA, TPU) it keeps the padding while task_output and compute_gradients
    still run eagerly: the batch-norm statistics, the weighted inner loss and the set encoder
    then see the padding rows and must ignore them. The padding rows hold
    bright noise labelled with real classes, so an unmasked statistic or count shows.
    """
    cfg = tiny_config(channels=4, num_blocks=2, image_shape=(14, 14, 1), train_inner_steps=5)
    keras.utils.set_random_seed(12)
    learner = MetaLearner(cfg)
    rng = np.random.default_rng(3)
    chars = rng.choice(964, 3, replace=False)
    shots = [1, 4, 2]
    plain = tasks.omniglot_task(np.random.default_rng(9), shots, queries=2, characters=chars,
                                image_size=14)
    padded = tasks.omniglot_task(np.random.default_rng(9), shots, queries=2, characters=chars,
                                 image_size=14, max_way=5, support_size=16)
    images, labels = padded.support_images.copy(), padded.support_labels.copy()
    images[7:] = 3.0 * rng.uniform(size=images[7:].shape)
    labels[7:] = np.arange(9) % 3
    padded = padded._replace(support_images=images, support_labels=labels)
    plain_t, padded_t = episodes.to_tensors(plain), episodes.to_tensors(padded)
    self.assertEqual(learner.real_support(padded_t, static_shapes=True).support_images.shape[0],
                     16)

    out_a = learner.task_output(plain_t, SEED, static_shapes=True)
    out_b = learner.task_output(padded_t, SEED, static_shapes=True)
    self.assertAllClose(out_a.logits, out_b.logits[:, :3], atol=1e-4, rtol=1e-4,
                        msg='query logits (of order 0.1)')
    self.assertAllClose(out_a.cross_entropy, out_b.cross_entropy, atol=1e-5)
    self.assertAllClose(out_a.kl, out_b.kl, atol=1e-4)
    for name in ('omega', 'gamma', 'z'):
      a, b = getattr(out_a.balancing, name), getattr(out_b.balancing, name)
      self.assertAllClose(a, b[:3] if name == 'omega' else b, atol=1e-5, msg=name)
    grads_a, m_a = learner.compute_gradients(tasks.batch_of(plain), SEED, static_shapes=True)
    grads_b, m_b = learner.compute_gradients(tasks.batch_of(padded), SEED, static_shapes=True)
    self.assertAllClose(m_a['loss'], m_b['loss'], atol=1e-5)
    for v, ga, gb in zip(learner.meta_variables, grads_a, grads_b):
      self.assertAllClose(ga, gb, atol=2e-4, rtol=2e-3, msg=v.path)
    self.assertGreater(np.abs(tasks.flat_gradients(grads_a)).sum(), 0.0)


class MetaGradientTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(1)
    cfg = tiny_config(channels=4, num_blocks=2, image_shape=(14, 14, 1), max_way=3)
    cls.second = MetaLearner(cfg)
    cls.first = MetaLearner(cfg.replace(first_order=True))
    for a, b in zip(cls.first.meta_variables, cls.second.meta_variables):
      a.assign(b)
    rng = np.random.default_rng(4)
    cls.batch = tasks.batch_of(
        tasks.omniglot_task(rng, [2, 1, 3], queries=2, image_size=14, support_size=6),
        tasks.omniglot_task(rng, [1, 2, 2], queries=2, image_size=14, support_size=6))

  def test_gradient_is_finite_for_every_variable(self):
    grads, _ = self.second.compute_gradients(self.batch, SEED)
    self.assertLen(grads, len(self.second.meta_variables))
    for v, g in zip(self.second.meta_variables, grads):
      self.assertTrue(np.all(np.isfinite(g)), v.path)
    # Every part of the model learns: theta, batch-norm offsets, encoder, alpha.
    for part in ('conv', 'norm', 'set_encoder', 'alpha'):
      total = sum(float(tf.reduce_sum(tf.abs(g))) for v, g in
                  zip(self.second.meta_variables, grads) if part in v.path)
      self.assertGreater(total, 0.0, part)

  def test_second_order_differs_from_first_order(self):
    g2 = tasks.flat_gradients(self.second.compute_gradients(self.batch, SEED)[0])
    g1 = tasks.flat_gradients(self.first.compute_gradients(self.batch, SEED)[0])
    self.assertGreater(np.abs(g2 - g1).max(), 1e-4)

  def test_matches_finite_differences(self):
    variables = self.second.meta_variables
    grads = self.second.compute_gradients(self.batch, SEED)[0]
    g1 = tasks.flat_gradients(self.first.compute_gradients(self.batch, SEED)[0])
    rng = np.random.default_rng(0)
    directions = [rng.normal(size=v.shape).astype(np.float32) for v in variables]
    norm = np.sqrt(sum((d ** 2).sum() for d in directions))
    directions = [d / norm for d in directions]
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, directions))
    first_order = float(np.dot(g1, np.concatenate([d.ravel() for d in directions])))
    originals = [v.numpy() for v in variables]
    eps = 1e-2

    def loss_at(sign):
      for v, o, d in zip(variables, originals, directions):
        v.assign(o + sign * eps * d)
      return float(self.second.batch_loss(self.batch, SEED)[0])

    numeric = (loss_at(1.0) - loss_at(-1.0)) / (2 * eps)
    for v, o in zip(variables, originals):
      v.assign(o)
    self.assertAllClose(numeric, analytic, rtol=0.05, atol=2e-3)
    # The second-order gradient explains the loss better than the first-order one.
    self.assertLess(abs(numeric - analytic), abs(numeric - first_order))


class XlaMetaGradientTest(tf.test.TestCase):

  def test_meta_gradient_is_the_same_under_xla(self):
    """The meta-gradient compiled with XLA (padded shapes) equals TensorFlow's (padding dropped).

    A task with a one-shot class and sampled balancing variables, 3 inner steps: each inner
    step differentiates through batch norm and max pooling again, so small per-op differences
    compound. Two were found this way: XLA's MaxPoolGradGrad picks maxima by the
    bfloat16-rounded input (what ExecutionConfig.pooling = 'elementwise' avoids under XLA), and
    batch-norm means summed from raw values lost 1e-5 to rounding on Omniglot's constant
    background (the backbone's batch norm now sums shifted values). With both, a 5-step
    meta-gradient differed by 0.05-0.17%; now they agree to rounding (4e-6).
    """
    keras.utils.set_random_seed(5)
    learner = MetaLearner(tiny_config(train_inner_steps=3), pooling='elementwise')
    task = tasks.omniglot_task(np.random.default_rng(8), [1, 3, 2], queries=2, max_way=5,
                               support_size=25, query_size=10)
    batch = learner.validate(tasks.batch_of(task), batched=True)
    plain, _ = learner.compute_gradients(batch, SEED)
    compiled, _ = tf.function(
        lambda b: learner.compute_gradients(b, SEED, static_shapes=True),
        jit_compile=True)(batch)
    # Conv biases are not read (conv_without_bias): their meta-gradient is 0 in both.
    a, b = tasks.flat_gradients(compiled), tasks.flat_gradients(plain)
    self.assertLess(np.linalg.norm(a - b) / np.linalg.norm(b), 2e-5)


class CompileAndPermutationTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(2)
    cls.config = tiny_config(train_inner_steps=1, test_inner_steps=2)
    cls.learner = MetaLearner(cls.config)

  def test_padding_rows_are_dropped_except_under_xla(self):
    ep = episodes.to_tensors(tasks.omniglot_task(np.random.default_rng(8), [1, 2], queries=1,
                                                 max_way=5, support_size=10, query_size=5))
    self.assertEqual(self.learner.real_support(ep).support_images.shape[0], 3)
    xla = execution_config.ExecutionConfig(jit_compile=True)
    self.assertEqual(self.learner.real_support(ep, xla.static_shapes).support_images.shape[0],
                     10)

  def test_permuting_class_ids_permutes_predictions(self):
    ep = tasks.omniglot_task(np.random.default_rng(6), [1, 3, 2, 4], queries=3, max_way=5)
    perm = np.array([2, 0, 3, 1])  # class c is renamed perm[c]
    renamed = ep._replace(support_labels=perm[ep.support_labels].astype(np.int32),
                          query_labels=perm[ep.query_labels].astype(np.int32))
    for mode in ('mean', 'mc'):
      probs, _ = self.learner.predict(episodes.to_tensors(ep), SEED, mode=mode)
      probs_renamed, _ = self.learner.predict(episodes.to_tensors(renamed), SEED, mode=mode)
      if mode == 'mean':
        self.assertAllClose(probs[:, :4], tf.gather(probs_renamed, perm, axis=1), atol=1e-5)
      self.assertAllClose(tf.reduce_sum(probs, -1), tf.ones([12]), atol=1e-5)
      self.assertAllEqual(probs[:, 4], tf.zeros([12]))  # the padding class is never predicted


if __name__ == '__main__':
  tf.test.main()


class MonteCarloPredictionTest(tf.test.TestCase):
  """predict(mode='mc') averages the softmax of S samples, each re-running the inner loop.

  The reference is built from the learner's parts: sample s draws phi with seed
  fold_in(seed, s), adapts from theta (*) z for test_inner_steps steps, and scores the queries.
  alpha_init=0.1 makes the samples' logits spread enough that the softmax of the mean logits
  (0.016 away) and the first sample alone (0.2 away) are both far outside the tolerance, which
  the test checks too, so it tells the three apart.
  """

  def test_mc_prediction_is_the_mean_of_the_sample_softmaxes(self):
    keras.utils.set_random_seed(13)
    learner = MetaLearner(tiny_config(channels=4, num_blocks=2, image_shape=(14, 14, 1),
                                      n_mc_samples=3, test_inner_steps=2, alpha_init=0.1))
    task = episodes.to_tensors(tasks.omniglot_task(np.random.default_rng(14), [1, 3, 2, 4],
                                                   queries=2, image_size=14, max_way=5))
    probs, bal = learner.predict(task, SEED, mode='mc')

    dists = learner.posterior(task.support_images, task.support_labels, task.support_mask,
                              task.class_mask)
    logits = []
    for s in range(3):
      sample, _ = learner.balancing_values(dists, task.class_mask, 'sample',
                                           learner_lib._fold(SEED, s))
      params = learner.adapt(task, sample, 2)
      logits.append(learner.query_logits(params, task))
    per_sample = tf.nn.softmax(tf.stack(logits))
    expected = tf.reduce_mean(per_sample, 0)
    self.assertAllClose(probs, expected, atol=1e-5)
    # The alternatives differ from the expected mean by orders of magnitude more than atol.
    softmax_of_mean = tf.nn.softmax(tf.reduce_mean(tf.stack(logits), 0))
    for name, wrong in (('softmax of the mean logits', softmax_of_mean),
                        ('the first sample', per_sample[0])):
      gap = float(tf.reduce_max(tf.abs(wrong - expected)))
      self.assertGreater(gap, 5e-3, name)  # measured 0.016 and 0.195
    # The Balancing returned is the posterior mean.
    self.assertAllClose(bal.gamma, dists.gamma.mean())
    self.assertAllClose(bal.z, dists.z.mean())


class ObjectiveTest(tf.test.TestCase):
  """task_loss is eq. (8): query CE + KL(q || N(0, I)) / (N + M), N and M the real counts.

  The task is padded (support 7 -> 16 rows, queries 6 -> 10, 3 -> 5 classes), so counting
  padding in N + M halves the KL term; the KL is written out in closed form here and covers
  only the switched-on variables (omega over the real classes only). Each variant's encoder,
  where it has one, has heads for all three variables, so the KL of a switched-off one
  would show.
  """

  N, M = 7, 6

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.task = episodes.to_tensors(tasks.omniglot_task(
        np.random.default_rng(15), [1, 4, 2], queries=2, image_size=14, max_way=5,
        support_size=16, query_size=10))

  @staticmethod
  def closed_form_kl(dist, size=None):
    mu, sigma = dist.loc.numpy()[:size], dist.scale.numpy()[:size]
    return float(np.sum(0.5 * (sigma ** 2 + mu ** 2 - 1.0) - np.log(sigma)))

  def check_variant(self, name, kl_of):
    keras.utils.set_random_seed(16)
    learner = MetaLearner(tiny_config(name, channels=4, num_blocks=2, image_shape=(14, 14, 1),
                                      train_inner_steps=1))
    t = self.task
    loss, out = learner.task_loss(t, SEED)
    logits = out.logits.numpy()[:self.M]
    labels = t.query_labels.numpy()[:self.M]
    log_probs = logits - np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1,
                                       keepdims=True)) - logits.max(-1, keepdims=True)
    ce = float(-np.mean(log_probs[np.arange(self.M), labels]))
    dists = learner.posterior(t.support_images, t.support_labels, t.support_mask, t.class_mask)
    kls = {k: self.closed_form_kl(d, 3 if k == 'omega' else None)
           for k, d in zip(dists._fields, dists) if d is not None}
    kl = sum(kls[k] for k in kl_of)
    self.assertAllClose(out.cross_entropy, ce, atol=1e-5, msg=f'{name} cross-entropy')
    self.assertAllClose(out.kl, kl, atol=1e-5, msg=f'{name} KL')
    self.assertAllClose(loss, ce + kl / (self.N + self.M), atol=1e-6, msg=f'{name} loss')
    return kls

  def test_bayesian_taml_has_every_kl_over_real_counts(self):
    kls = self.check_variant('bayesian_taml', ('omega', 'gamma', 'z'))
    # Padding counted in N + M (26 rows) would move the loss by far more than atol.
    total = sum(kls.values())
    self.assertGreater(total / 13 - total / 26, 1e-2)

  def test_omega_taml_has_only_omega_kl(self):
    kls = self.check_variant('omega_taml', ('omega',))
    # The switched-off heads exist and have a KL that would show.
    self.assertGreater((kls['gamma'] + kls['z']) / 13, 1e-2)

  def test_authors_padding_divides_the_kl_by_the_padded_rows(self):
    # The authors' padding to a meta-batch's longest support set of 10 rows: N + M = 10 + 6
    # (the real counts: 7 + 6 = 13); the KL itself is unchanged (their encoder ignores zero
    # rows, as this one).
    cfg = tiny_config('bayesian_taml', channels=4, num_blocks=2, image_shape=(14, 14, 1),
                      train_inner_steps=1)
    keras.utils.set_random_seed(16)
    real = MetaLearner(cfg)
    padded = MetaLearner(cfg.replace(authors_padding=True))
    for a, b in zip(padded.meta_variables, real.meta_variables):
      a.assign(b)
    loss_r, out_r = real.task_loss(self.task, SEED)
    loss_p, out_p = padded.task_loss(self.task, SEED, support_rows=10.0)
    self.assertAllClose(out_p.kl, out_r.kl)
    self.assertGreater(float(out_r.kl) * (1 / 13 - 1 / 16), 1e-3)
    self.assertAllClose(loss_r, out_r.cross_entropy + out_r.kl / 13, atol=1e-6)
    self.assertAllClose(loss_p, out_p.cross_entropy + out_p.kl / 16, atol=1e-6)

  def test_removed_kl_counts_is_refused_in_saved_configs(self):
    # Run folders written before kl_counts was removed still load (they all say 'real');
    # 'padded' computed a count that was not the authors', so it is refused by name.
    data = json.loads(tiny_config('bayesian_taml').to_json())
    del data['bn_second_order'], data['authors_padding']
    self.assertEqual(ModelConfig.from_dict(dict(data, kl_counts='real')),
                     tiny_config('bayesian_taml'))
    with self.assertRaisesRegex(ValueError, "kl_counts='padded' is no longer supported.*"
                                "authors_padding"):
      ModelConfig.from_dict(dict(data, kl_counts='padded'))

  def test_metasgd_and_deterministic_taml_have_no_kl(self):
    self.assertEqual(self.check_variant('metasgd', ()), {})
    kls = self.check_variant('deterministic_taml', ())
    self.assertGreater(sum(kls.values()) / 13, 1e-2)
