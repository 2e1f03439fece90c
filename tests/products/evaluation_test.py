"""Tests of taml_tf.products.evaluation: helpers by hand, then meta-test end to end on real episodes
(and the reports written from them)."""

import json
import math
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from taml_tf import data
from taml_tf.execution import run_dir
from taml_tf.method import config as config_lib
from taml_tf.method import episodes as episodes_lib
from taml_tf.method.learner import MetaLearner
from taml_tf.products import calibration
from taml_tf.products import comparison
from taml_tf.products import evaluation
from taml_tf.products import predictors
from taml_tf.products import export
from taml_tf.products import reports
from taml_tf.products import results
from tests import real_data

NUM_EPISODES = 4  # per data set, in batches of 2


def tiny_config(name='bayesian_taml'):
  return config_lib.variant(name, channels=8, train_inner_steps=1, test_inner_steps=2,
                            max_way=5, max_shot=5, n_mc_samples=2)


def real_datasets(num_episodes=NUM_EPISODES):
  """Omniglot (evaluation alphabets) and MNIST: any-way (3..5), 1..5 shots, bucketed support."""
  folder = real_data.require('omniglot_28x28.npz', 'mnist_test.npz')
  sampler = data.SamplerConfig(way=5, min_way=3, max_shot=5, query=3, mode='mixed',
                               pad_to='bucket')
  return data.named_evaluation_sets({'omniglot': 'omniglot:evaluation', 'mnist': 'mnist'},
                                    sampler, num_episodes=num_episodes, batch_size=2,
                                    data_dir=folder)


def unbatched(datasets):
  """name -> list of unbatched numpy Episodes."""
  out = {}
  for name, ds in datasets.items():
    out[name] = [episodes_lib.Episode(*[np.asarray(x)[t] for x in b])
                 for b in ds for t in range(int(b.support_images.shape[0]))]
  return out


class HelpersTest(tf.test.TestCase):

  def test_episode_seed(self):
    self.assertAllEqual(evaluation.episode_seed(3, 7), [3, 7])
    self.assertEqual(evaluation.episode_seed(3, 7).dtype, np.int32)
    with self.assertRaisesRegex(ValueError, 'seed'):
      evaluation.episode_seed(-1, 0)
    with self.assertRaisesRegex(ValueError, 'seed'):
      evaluation.episode_seed(2 ** 31, 0)

  def test_z_shift_hand_computed(self):
    # Two layers of 2 channels. Layer 1: ones kernel, z_w = (0.5, 0.5) -> relative change 0.5.
    # Layer 2: kernel with only channel 0 nonzero (value 2), z_w = (1, 7) -> change 1.
    k1 = np.ones([3, 3, 1, 2])
    k2 = np.zeros([3, 3, 2, 2])
    k2[..., 0] = 2.0
    z = np.array([0.5, 0.5, 1.0, 7.0,   # multiplicative: layer 1, layer 2
                  0.0, 3.0, 4.0, 0.0])  # additive
    per_layer, relative, bias_shift = evaluation.z_shift(z, [k1, k2], [np.zeros(2)] * 2)
    self.assertAllClose(per_layer, [0.5, 1.0])
    moved = 18 * 0.25 + 18 * 4.0 + 9.0 + 16.0
    size = 18 * 1.0 + 18 * 4.0
    self.assertAllClose(relative, math.sqrt(moved / size))
    self.assertAllClose(bias_shift, 5.0)

  def test_z_shift_matches_modulate_init(self):
    from taml_tf.method import balancing, parameters
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=[3, 3, 1, 4]), rng.normal(size=[3, 3, 4, 4])]
    biases = [rng.normal(size=4), rng.normal(size=4)]
    z = rng.normal(size=16)
    params = tuple(parameters.Layer(tf.constant(k, tf.float32), tf.constant(b, tf.float32))
                   for k, b in zip(kernels, biases))
    moved = balancing.modulate_init(params, tf.constant(z, tf.float32))
    pairs = list(zip(tf.nest.flatten(moved), tf.nest.flatten(params)))
    diff = np.sqrt(sum(np.sum((m.numpy() - p.numpy()) ** 2) for m, p in pairs))
    size = np.sqrt(sum(np.sum(p.numpy() ** 2) for _, p in pairs))
    _, relative, _ = evaluation.z_shift(z, kernels, biases)
    self.assertAllClose(relative, diff / size, rtol=1e-5)

  def test_bad_arguments(self):
    learner = MetaLearner(tiny_config('maml'))
    ds = {'x': tf.data.Dataset.range(1)}
    with self.assertRaisesRegex(ValueError, 'mode'):
      evaluation.evaluate(learner, ds, mode='sample')
    with self.assertRaisesRegex(ValueError, 'non-empty'):
      evaluation.evaluate(learner, {})
    with self.assertRaisesRegex(ValueError, 'num_steps'):
      evaluation.evaluate(learner, ds, num_steps=2.5)
    with self.assertRaisesRegex(ValueError, 'num_samples'):
      evaluation.evaluate(learner, ds, mode='mc', num_samples=0)
    with self.assertRaisesRegex(ValueError, 'seed'):
      evaluation.evaluate(learner, ds, seed=-3)

  def test_malformed_episode_is_rejected(self):
    learner = MetaLearner(tiny_config('maml'))
    rng = np.random.default_rng(0)
    good = episodes_lib.from_arrays(rng.uniform(size=[4, 28, 28]), [0, 0, 1, 1],
                                    rng.uniform(size=[2, 28, 28]), [0, 1], max_way=5)
    bad_label = good._replace(query_labels=np.array([0, 3], np.int32))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, 'query_labels out of range'):
      evaluation.evaluate(learner, {'bad': [episodes_lib.stack([bad_label])]})
    small = episodes_lib.from_arrays(rng.uniform(size=[4, 14, 14]), [0, 0, 1, 1],
                                     rng.uniform(size=[2, 14, 14]), [0, 1])
    with self.assertRaisesRegex(ValueError, 'model expects'):
      evaluation.evaluate(learner, {'small': [small]})
    result = evaluation.evaluate(learner, {'good': [good]})  # unbatched episodes work too
    self.assertEqual(result.datasets['good'].episodes, 1)


class PaddedGroupsTest(tf.test.TestCase):

  def test_groups_of_consecutive_episodes_share_their_longest_support(self):
    shapes = (14, 14, 1)

    def episode(shots, size):
      labels = np.repeat(np.arange(len(shots)), shots)
      return episodes_lib.from_arrays(np.ones((len(labels),) + shapes), labels,
                                      np.ones((2,) + shapes), np.arange(2), max_way=3,
                                      support_size=size)

    eps = [episode([1, 1], 4), episode([3, 2], 6), episode([2, 1], 3), episode([1, 2], 3),
           episode([2, 2], 4)]
    got = list(evaluation.padded_groups(iter(eps), 2))
    self.assertEqual([rows for _, rows in got], [5, 5, 3, 3, 4])
    for (e, rows), original in zip(got, eps):
      self.assertGreaterEqual(e.support_images.shape[0], rows)
      real = original.support_mask > 0
      self.assertAllEqual(e.support_mask[:len(real)], original.support_mask)
      self.assertAllEqual(e.support_mask[len(real):], np.zeros(len(e.support_mask) - len(real)))
      self.assertAllEqual(e.support_images[len(real):], np.zeros_like(e.support_images[len(real):]))
    self.assertEqual([rows for _, rows in evaluation.padded_groups(iter(eps), None)],
                     [None] * 5)


class AuthorsPaddingEvaluateTest(tf.test.TestCase):
  """The authors' padded meta-test: consecutive episodes in meta-batches, on real episodes."""

  def test_each_episode_is_predicted_padded_to_its_meta_batch(self):
    keras.utils.set_random_seed(0)
    learner = MetaLearner(tiny_config().replace(authors_padding=True))
    datasets = real_datasets()
    episodes = unbatched(datasets)
    # Meta-batches of 3 cross the data sets' batches of 2: [0, 1, 2], [3].
    padded = evaluation.evaluate(learner, datasets, mode='mean', seed=5, padded_meta_batch=3)
    plain = evaluation.evaluate(learner, datasets, mode='mean', seed=5)
    self.assertEqual(padded.padded_meta_batch, 3)
    self.assertEqual(padded.to_dict()['padded_meta_batch'], 3)
    self.assertIsNone(plain.padded_meta_batch)
    moved = 0
    for name, eps in episodes.items():
      accs, nlls = [], []
      for i, ep in enumerate(eps):
        group = eps[i // 3 * 3:i // 3 * 3 + 3]
        rows = max(int(e.support_mask.sum()) for e in group)
        size = max(rows, ep.support_images.shape[0])
        query = ep.query_mask > 0
        wide = episodes_lib.from_arrays(
            ep.support_images[ep.support_mask > 0], ep.support_labels[ep.support_mask > 0],
            ep.query_images[query], ep.query_labels[query], max_way=5, support_size=size)
        probs, _ = learner.predict(episodes_lib.to_tensors(wide), mode='mean',
                                   support_rows=float(rows))
        labels = ep.query_labels[query]
        picked = probs.numpy()[np.arange(len(labels)), labels]
        nlls.append(float(np.mean(-np.log(picked))))
        accs.append(np.mean(probs.numpy().argmax(1) == labels))
        alone, _ = learner.predict(episodes_lib.to_tensors(ep), mode='mean')
        moved += int(not np.allclose(probs, alone.numpy()[query], atol=1e-4))
      self.assertAllClose(padded.datasets[name].episode_accuracy, accs, msg=name)
      records = [r for r in padded.records if r.dataset == name]
      self.assertAllClose([r.nll for r in records], nlls, rtol=1e-5, msg=name)
    # Episodes shorter than their meta-batch's longest are predicted otherwise than alone.
    self.assertGreater(moved, 0)
    with self.assertRaisesRegex(ValueError, 'padded_meta_batch needs a learner with '
                                'authors_padding=True'):
      evaluation.evaluate(MetaLearner(tiny_config()), datasets, padded_meta_batch=3)


class EvaluateTest(tf.test.TestCase):
  """Bayesian TAML (tiny) on real Omniglot and MNIST episodes, both modes."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(0)
    cls.learner = MetaLearner(tiny_config())
    cls.datasets = real_datasets()
    cls.episodes = unbatched(cls.datasets)
    cls.progress = []
    cls.mean = evaluation.evaluate(cls.learner, cls.datasets, mode='mean', seed=5,
                                   progress=lambda *a: cls.progress.append(a))
    cls.mc = evaluation.evaluate(cls.learner, cls.datasets, mode='mc', seed=5)

  def test_accuracy_matches_direct_predict(self):
    for result, mode in ((self.mean, 'mean'), (self.mc, 'mc')):
      for name, eps in self.episodes.items():
        accs, nlls, all_probs, all_labels = [], [], [], []
        for i, ep in enumerate(eps):
          probs, _ = self.learner.predict(episodes_lib.to_tensors(ep),
                                          evaluation.episode_seed(5, i), mode=mode,
                                          num_samples=2, num_steps=2)
          way = int(ep.class_mask.sum())
          real = ep.query_mask > 0
          probs = probs.numpy()[real][:, :way]
          labels = ep.query_labels[real]
          accs.append(np.mean(probs.argmax(1) == labels))
          all_probs.append(np.pad(probs, [(0, 0), (0, 5 - way)]))
          all_labels.append(labels)
        r = result.datasets[name]
        self.assertEqual(r.episodes, NUM_EPISODES)
        self.assertAllClose(r.episode_accuracy, accs, msg=f'{mode} {name}')
        self.assertAllClose(r.accuracy, np.mean(accs))
        self.assertAllClose(r.ci95, 1.96 * np.std(accs) / np.sqrt(NUM_EPISODES))
        probs, labels = np.concatenate(all_probs), np.concatenate(all_labels)
        self.assertEqual(r.queries, len(labels))
        self.assertAllClose(r.nll, calibration.negative_log_likelihood(probs, labels),
                            rtol=1e-4)
        self.assertAllClose(r.ece, calibration.expected_calibration_error(probs, labels),
                            atol=1e-4)

  def test_saved_model_gives_the_learners_results(self):
    """An exported model, evaluated through its serving signatures on the same (padded,
    bucketed) episodes and seeds, scores what the learner scores, in both modes."""
    folder = tempfile.mkdtemp(prefix='evaluation_test_')
    self.addCleanup(shutil.rmtree, folder, True)
    path = export.export_saved_model(self.learner, os.path.join(folder, 'model'))
    predictor = predictors.SavedModelPredictor(path, 'mc')
    for expected, model, mode in ((self.mean, path, 'mean'), (self.mc, predictor, None)):
      got = evaluation.evaluate_saved_model(model, self.datasets, mode=mode, seed=5)
      self.assertEqual((got.mode, got.num_samples, got.num_steps),
                       (expected.mode, expected.num_samples, expected.num_steps))
      for name, r in expected.datasets.items():
        g = got.datasets[name]
        self.assertEqual(g.episodes, NUM_EPISODES)
        self.assertAllClose(g.episode_accuracy, r.episode_accuracy, msg=f'{expected.mode}')
        self.assertAllClose(g.nll, r.nll, rtol=1e-4, msg=f'{expected.mode} {name}')
    with self.assertRaisesRegex(ValueError, "mode='mean' differs from the predictor's 'mc'"):
      evaluation.evaluate_saved_model(predictor, self.datasets, mode='mean')
    with self.assertRaisesRegex(FileNotFoundError, 'not a SavedModel folder'):
      evaluation.evaluate_saved_model(folder, self.datasets)

  def test_settings_recorded(self):
    self.assertEqual((self.mean.mode, self.mean.num_samples, self.mean.num_steps),
                     ('mean', None, 2))
    self.assertEqual((self.mc.mode, self.mc.num_samples, self.mc.num_steps), ('mc', 2, 2))
    self.assertEqual(self.mc.variables, ('omega', 'gamma', 'z'))
    self.assertEqual(list(self.mc.datasets), ['omniglot', 'mnist'])
    self.assertEqual(len(self.progress), 2 * NUM_EPISODES)
    self.assertEqual(self.progress[-1], ('mnist', NUM_EPISODES))

  def test_precision_is_the_learners_and_recorded(self):
    self.assertEqual(self.mean.precision, 'float32')
    self.assertEqual(self.mean.to_dict()['precision'], 'float32')
    bf16 = MetaLearner(tiny_config(), precision='mixed_bfloat16')
    for (_, a), (_, b) in zip(run_dir.learner_variables(self.learner),
                              run_dir.learner_variables(bf16)):
      b.assign(a)
    got = evaluation.evaluate(bf16, self.datasets, mode='mean', seed=5)
    self.assertEqual(got.to_dict()['precision'], 'mixed_bfloat16')
    for name, r in self.mean.datasets.items():
      # The same weights computed in bfloat16: close to float32, yet not bit-equal (so the
      # convolutions did run in bfloat16).
      self.assertNotEqual(got.datasets[name].nll, r.nll)
      self.assertAllClose(got.datasets[name].nll, r.nll, rtol=0.05, msg=name)

  def test_reproducible_with_same_seed(self):
    again = evaluation.evaluate(self.learner, self.datasets, mode='mc', seed=5)
    other = evaluation.evaluate(self.learner, {'mnist': self.datasets['mnist']}, mode='mc',
                                seed=6, max_episodes=2)
    for name in self.mc.datasets:
      a, b = self.mc.datasets[name], again.datasets[name]
      self.assertAllEqual(a.episode_accuracy, b.episode_accuracy)
      self.assertEqual((a.nll, a.ece), (b.nll, b.ece))
    for ra, rb in zip(self.mc.records, again.records):
      self.assertEqual(ra.nll, rb.nll)
      self.assertAllEqual(ra.omega, rb.omega)
    # Another seed draws other samples (the posterior mean of the records is the same).
    first = [r for r in self.mc.records if r.dataset == 'mnist'][:2]
    self.assertNotEqual([r.nll for r in first], [r.nll for r in other.records])
    self.assertEqual(other.datasets['mnist'].episodes, 2)
    self.assertAllClose(first[0].z, other.records[0].z)

  def test_splits_add_up(self):
    for result in (self.mean, self.mc):
      for name, r in result.datasets.items():
        recs = [x for x in result.records if x.dataset == name]
        correct = round(sum(x.accuracy * x.query_size for x in recs))
        task, cls = r.by_task_size, r.by_class_size
        self.assertEqual(sum(row.episodes for row in task), r.episodes)
        self.assertEqual(sum(row.queries for row in task), r.queries)
        self.assertEqual(sum(row.queries for row in cls), r.queries)
        self.assertEqual(sum(row.correct for row in task), correct)
        self.assertEqual(sum(row.correct for row in cls), correct)
        self.assertEqual(sum(row.classes for row in cls), sum(x.way for x in recs))
        filled = [row for row in task if row.episodes]
        self.assertAllClose(sum(row.accuracy * row.episodes for row in filled) / r.episodes,
                            r.accuracy)
        # Tasks here have 3..25 support examples and 1..5 shots per class.
        self.assertEqual(task[0].episodes, r.episodes)
        self.assertEqual(cls[0].queries + cls[1].queries, r.queries)
        shots = np.concatenate([x.shots for x in recs])
        self.assertEqual(cls[0].classes, int(np.sum(shots == 1)))

  def test_balancing_records(self):
    c = self.learner.config
    records = self.mc.records
    self.assertLen(records, 2 * NUM_EPISODES)
    for rec in records:
      ep = self.episodes[rec.dataset][rec.episode]
      self.assertEqual(rec.way, int(ep.class_mask.sum()))
      self.assertAllEqual(rec.shots, data.real_shots(ep)[:rec.way])
      self.assertEqual(rec.support_size, int(ep.support_mask.sum()))
      self.assertEqual(rec.shots.sum(), rec.support_size)
      self.assertEqual(rec.omega.shape, (rec.way,))
      self.assertAllClose(rec.omega.sum(), 1.0, atol=1e-5)
      self.assertTrue(np.all(rec.omega > 0))
      self.assertEqual(rec.exp_gamma.shape, (c.num_layers,))
      self.assertTrue(np.all(rec.exp_gamma > 0))
      self.assertEqual(rec.z.shape, (c.z_dim,))
      self.assertAllClose(rec.z_norm, np.linalg.norm(rec.z))
      self.assertEqual(rec.z_kernel_change.shape, (c.num_blocks,))
      self.assertGreaterEqual(rec.z_relative_change, 0.0)
    # The records hold the posterior mean in both modes.
    for a, b in zip(self.mean.records, self.mc.records):
      self.assertAllClose(a.omega, b.omega, atol=1e-5)
      self.assertAllClose(a.z, b.z, atol=1e-5)

  def test_write_results(self):
    with tempfile.TemporaryDirectory() as out:
      paths = reports.write_results(self.mc, out)
      self.assertEqual(sorted(os.listdir(out)),
                       ['balancing.npz', 'results.json', 'results.md'])
      with open(paths['json']) as f:
        loaded = json.load(f)
      self.assertEqual(loaded['mode'], 'mc')
      self.assertEqual(loaded['num_samples'], 2)
      for name, r in self.mc.datasets.items():
        d = loaded['datasets'][name]
        self.assertEqual(d['episodes'], r.episodes)
        self.assertAllClose(d['accuracy'], r.accuracy)
        self.assertAllClose(d['ece'], r.ece)
        self.assertEqual(sum(d['reliability']['count']), r.queries)
        self.assertLen(d['by_task_size'], len(results.TASK_SIZE_BUCKETS))
        self.assertLen(d['by_class_size'], len(results.CLASS_SIZE_BUCKETS))
      with open(paths['markdown']) as f:
        text = f.read()
      self.assertIn('| data set | episodes | accuracy (%) ± 95% CI | NLL | ECE |', text)
      acc = self.mc.datasets['mnist']
      self.assertIn(f'| mnist | {NUM_EPISODES} | {100 * acc.accuracy:.2f} ± '
                    f'{100 * acc.ci95:.2f} |', text)
      self.assertIn('## Accuracy by class size', text)
      with np.load(paths['balancing'], allow_pickle=False) as npz:
        arrays = dict(npz)
      e = 2 * NUM_EPISODES
      self.assertEqual(arrays['dataset'].tolist(), ['omniglot'] * 4 + ['mnist'] * 4)
      self.assertEqual(arrays['shots'].shape, (e, 5))
      self.assertAllEqual(arrays['shots'].sum(1), arrays['support_size'])
      self.assertAllClose(arrays['omega'].sum(1), np.ones(e), atol=1e-5)
      self.assertAllEqual(arrays['omega'] > 0, arrays['shots'] > 0)
      self.assertEqual(arrays['exp_gamma'].shape, (e, self.learner.config.num_layers))
      self.assertEqual(arrays['z'].shape, (e, self.learner.config.z_dim))
      self.assertEqual(arrays['z_kernel_change'].shape, (e, self.learner.config.num_blocks))
      self.assertAllClose(arrays['accuracy'], [r.accuracy for r in self.mc.records])
      # Overwriting leaves no temporary files behind.
      reports.write_results(self.mean, out)
      self.assertLen(os.listdir(out), 3)


class MamlEvaluateTest(tf.test.TestCase):
  """A variant without the set encoder records no balancing variables."""

  def test_maml(self):
    keras.utils.set_random_seed(1)
    learner = MetaLearner(tiny_config('maml'))
    datasets = real_datasets(num_episodes=2)
    mean = evaluation.evaluate(learner, datasets, mode='mean')
    mc = evaluation.evaluate(learner, datasets, mode='mc', max_episodes=1)
    self.assertEqual(mean.variables, ())
    for rec in mean.records + mc.records:
      self.assertIsNone(rec.omega)
      self.assertIsNone(rec.exp_gamma)
      self.assertIsNone(rec.z)
      self.assertIsNone(rec.z_relative_change)
    # Nothing stochastic: 'mc' equals 'mean' on the episodes both saw.
    self.assertEqual(mc.records[0].nll, mean.records[0].nll)
    self.assertEqual(mc.datasets['omniglot'].episodes, 1)
    with tempfile.TemporaryDirectory() as out:
      paths = reports.write_results(mean, out)
      with np.load(paths['balancing'], allow_pickle=False) as npz:
        self.assertEqual(sorted(npz.files), ['accuracy', 'dataset', 'episode', 'nll',
                                             'query_size', 'shots', 'support_size', 'way'])
      with open(paths['json']) as f:
        self.assertEqual(json.load(f)['variables'], [])
      # Read back and compared episode by episode: the one MC episode is the mean run's first.
      loaded, arrays = reports.read_results(out)
      self.assertEqual(loaded['datasets']['mnist']['episodes'], 2)
      self.assertAllEqual(arrays['accuracy'], [r.accuracy for r in mean.records])
      reports.write_results(mc, os.path.join(out, 'mc'))
      first = comparison.load_entry(out, 'maml')
      second = comparison.load_entry(os.path.join(out, 'mc'), 'maml')
      self.assertEqual((first.label, second.label), ('maml (mean)', 'maml (MC 2)'))
      for name in datasets:
        self.assertEqual(comparison.paired_difference(second, first, name), (0.0, 0.0, 1))


if __name__ == '__main__':
  tf.test.main()
