"""Tests of the SavedModel export: parity with the library, clean-process serving, bad inputs,
atomic writes and export from a training checkpoint."""

import os
import shutil
import tempfile
from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from taml_tf.execution import run_dir
from taml_tf.method import config as config_lib
from taml_tf.method import episodes
from taml_tf.method.learner import MetaLearner
from taml_tf.products import export
from taml_tf.products import serving
from tests import tasks
from tests import without_taml_tf

SEED = np.array([3, 17], np.int32)


def tiny_config(**overrides):
  settings = dict(channels=8, train_inner_steps=1, test_inner_steps=2, max_way=5, max_shot=5,
                  n_mc_samples=3)
  settings.update(overrides)
  return config_lib.variant('bayesian_taml', **settings)


def task_of(rng, shots, queries=2, max_way=5, image_size=28):
  """A real Omniglot task: (episode tensors padded to max_way class slots, request dict)."""
  ep = episodes.to_tensors(tasks.omniglot_task(rng, shots, queries=queries, max_way=max_way,
                                               image_size=image_size))
  request = dict(support_images=ep.support_images, support_labels=ep.support_labels,
                 query_images=ep.query_images)
  return ep, request


def perturb(learner, seed):
  """Moves every variable away from its initial value (a stand-in for training)."""
  rng = np.random.default_rng(seed)
  for v in serving.serving_variables(learner):
    v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))


def temp_dir(test):
  """A fresh temporary directory removed after `test`."""
  path = tempfile.mkdtemp(prefix='export_test_')
  test.addCleanup(shutil.rmtree, path, True)
  return path


def listing(folder):
  return sorted(os.listdir(folder))


class ExportTest(tf.test.TestCase, parameterized.TestCase):
  """One export of a tiny Bayesian TAML model, loaded back in this process and in a clean one."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(0)
    cls.config = tiny_config()
    cls.learner = MetaLearner(cls.config)
    perturb(cls.learner, 0)
    cls.module = serving.ServingModule(cls.learner)
    cls.root = tempfile.mkdtemp(prefix='export_test_')
    cls.export_dir = export.export_saved_model(cls.module, os.path.join(cls.root, 'model'))
    cls.loaded = tf.saved_model.load(cls.export_dir)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def signature(self, name):
    return self.loaded.signatures[name]

  def test_export_dir_contents_and_signatures(self):
    self.assertEqual(listing(self.root), ['model'])
    self.assertIn('saved_model.pb', listing(self.export_dir))
    umask = os.umask(0)
    os.umask(umask)
    self.assertEqual(os.stat(self.export_dir).st_mode & 0o777, 0o777 & ~umask)
    with open(os.path.join(self.export_dir, export.CONFIG_FILE)) as f:
      self.assertEqual(config_lib.ModelConfig.from_json(f.read()), self.config)
    self.assertCountEqual(self.loaded.signatures.keys(),
                          list(serving.SIGNATURE_NAMES) + ['serving_default'])
    sig = self.signature('adapt_and_predict')
    inputs = sig.structured_input_signature[1]
    self.assertEqual(inputs['support_images'].shape.as_list(), [None, 28, 28, 1])
    self.assertEqual(inputs['support_labels'].dtype, tf.int32)
    self.assertEqual(list(sig.structured_outputs), ['probs'])
    mc_inputs = self.signature('adapt_and_predict_mc').structured_input_signature[1]
    self.assertEqual(mc_inputs['seed'].shape.as_list(), [2])
    info = {k: v.numpy().tolist() for k, v in self.signature('model_info')().items()}
    self.assertEqual(info, dict(max_way=5, image_shape=[28, 28, 1], inner_steps=2,
                                mc_samples=3, z_dim=self.config.z_dim,
                                num_layers=self.config.num_layers))

  @parameterized.named_parameters(
      ('2way', [1, 4], 1), ('3way', [2, 1, 3], 2), ('5way_anyshot', [5, 1, 1, 2, 4], 4))
  def test_mean_signature_matches_library(self, shots, seed):
    ep, request = task_of(np.random.default_rng(seed), shots, queries=3)
    expected, _ = self.learner.predict(ep, mode='mean')
    way = len(shots)
    for name in ('adapt_and_predict', 'serving_default'):
      probs = self.signature(name)(**request)['probs']
      self.assertEqual(probs.shape, (3 * way, way))
      self.assertAllClose(probs, expected[:, :way], atol=1e-5, rtol=0)
    self.assertAllClose(tf.reduce_sum(expected[:, way:]), 0.0)
    # The same request gives the same answer (no hidden state or randomness).
    self.assertAllEqual(probs, self.signature('adapt_and_predict')(**request)['probs'])

  def test_mc_signature_matches_library(self):
    ep, request = task_of(np.random.default_rng(6), [3, 1, 2, 2, 1])
    expected, _ = self.learner.predict(ep, seed=SEED, mode='mc')
    probs = self.signature('adapt_and_predict_mc')(seed=tf.constant(SEED), **request)['probs']
    self.assertAllClose(probs, expected, atol=1e-5, rtol=0)
    other = self.signature('adapt_and_predict_mc')(seed=tf.constant([1, 2]), **request)['probs']
    self.assertGreater(float(tf.reduce_max(tf.abs(other - probs))), 1e-6)
    mean = self.signature('adapt_and_predict')(**request)['probs']
    self.assertGreater(float(tf.reduce_max(tf.abs(mean - probs))), 1e-6)

  def test_balancing_signature_matches_posterior_means(self):
    ep, _ = task_of(np.random.default_rng(7), [1, 5, 2])
    out = self.signature('balancing_variables')(support_images=ep.support_images,
                                                support_labels=ep.support_labels)
    dists = self.learner.posterior(ep.support_images, ep.support_labels, ep.support_mask,
                                   ep.class_mask)
    omega = dists.omega.mean()[:3]
    self.assertAllClose(out['omega_mean'], omega, atol=1e-5)
    self.assertAllClose(out['omega'], tf.nn.softmax(omega), atol=1e-5)
    self.assertAllClose(tf.reduce_sum(out['omega']), 1.0, atol=1e-6)
    self.assertAllClose(out['gamma'], dists.gamma.mean(), atol=1e-5)
    self.assertAllClose(out['gamma_multiplier'], tf.exp(dists.gamma.mean()), atol=1e-5)
    self.assertAllClose(out['z'], dists.z.mean(), atol=1e-5)
    self.assertEqual(out['gamma'].shape, (self.config.num_layers,))
    self.assertEqual(out['z'].shape, (self.config.z_dim,))
    # They are the values predict() uses.
    _, bal = self.learner.predict(ep, mode='mean')
    self.assertAllClose(out['omega_mean'], bal.omega[:3], atol=1e-5)

  def bad_requests(self):
    ep, good = task_of(np.random.default_rng(8), [2, 2, 2])
    images, labels = good['support_images'].numpy(), good['support_labels'].numpy()
    nan = images.copy()
    nan[1, 3, 3, 0] = np.nan
    inf_query = good['query_images'].numpy().copy()
    inf_query[0, 0, 0, 0] = np.inf
    empty = np.zeros((0, 28, 28, 1), np.float32)
    negative_query = good['query_images'].numpy().copy()
    negative_query[0, 5, 5, 0] = -0.25
    return {
        # Images in 0..255 (or normalised to mean 0) answer meaninglessly unless refused.
        'support pixels in 0..255': (dict(good, support_images=images * 255.0),
                                     r'support_images out of range: pixel values must be in '
                                     r'\[0, 1\]'),
        'negative query pixel': (dict(good, query_images=negative_query),
                                 r'query_images out of range: pixel values must be in \[0, 1\]'),
        'negative label': (dict(good, support_labels=labels - 1), r'labels must be >= 0'),
        'too many classes': (dict(good, support_labels=np.where(labels == 2, 5, labels)),
                             r'more classes than the model allows.*max_way=5'),
        'missing class': (dict(good, support_labels=np.where(labels == 1, 2, labels)),
                          r'missing class'),
        'one class': (dict(good, support_labels=np.zeros_like(labels)), r'fewer than 2 classes'),
        'nan support pixel': (dict(good, support_images=nan), r'support_images contain NaN'),
        'inf query pixel': (dict(good, query_images=inf_query), r'query_images contain NaN or inf'),
        'empty support': (dict(good, support_images=empty,
                               support_labels=np.zeros([0], np.int32)), r'empty support set'),
        'empty query': (dict(good, query_images=empty), r'empty query set'),
        'label/image rows differ': (dict(good, support_labels=labels[:-1]),
                                    r'same number of rows'),
    }

  def test_bad_inputs_return_errors(self):
    for case, (request, pattern) in self.bad_requests().items():
      request = {k: tf.constant(v) for k, v in request.items()}
      with self.subTest(case=case):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, pattern):
          self.signature('adapt_and_predict')(**request)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, pattern):
          self.signature('adapt_and_predict_mc')(seed=tf.constant(SEED), **request)
        if 'query' not in case:
          support = {k: request[k] for k in ('support_images', 'support_labels')}
          with self.assertRaisesRegex(tf.errors.InvalidArgumentError, pattern):
            self.signature('balancing_variables')(**support)

  def test_wrong_image_size_or_dtype_is_rejected(self):
    _, good = task_of(np.random.default_rng(9), [1, 2])
    small = tf.image.resize(good['support_images'], [14, 14])
    rgb = tf.tile(good['query_images'], [1, 1, 1, 3])
    errors = (ValueError, TypeError, tf.errors.InvalidArgumentError)
    for case, request, pattern in (
        ('support 14x14', dict(good, support_images=small),
         r'support_images must be \[N, 28, 28, 1\]'),
        ('query rgb', dict(good, query_images=rgb), r'query_images must be \[N, 28, 28, 1\]')):
      with self.subTest(case=case):
        # The saved signature checks at run time and names the problem ...
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, 'wrong image size: ' + pattern):
          self.signature('adapt_and_predict')(**request)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, 'wrong image size'):
          self.signature('adapt_and_predict_mc')(seed=tf.constant(SEED), **request)
        # ... and the in-process module's TensorSpec refuses the call outright.
        with self.assertRaises(errors):
          self.module.adapt_and_predict(**request)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, 'wrong image size'):
      self.signature('balancing_variables')(support_images=small,
                                            support_labels=good['support_labels'])
    with self.assertRaises(errors):
      self.signature('adapt_and_predict')(
          **dict(good, support_labels=tf.cast(good['support_labels'], tf.float32)))

  def test_serves_in_a_process_without_taml_tf_keras_or_tfp(self):
    ep, request = task_of(np.random.default_rng(10), [3, 1, 2, 2])
    expected, _ = self.learner.predict(ep, mode='mean')
    expected_mc, _ = self.learner.predict(ep, seed=SEED, mode='mc')
    work = temp_dir(self)
    np.savez(os.path.join(work, 'request.npz'), seed=SEED,
             **{k: v.numpy() for k, v in request.items()})
    without_taml_tf.run(self, f"""
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({self.export_dir!r})
        req = dict(np.load('request.npz'))
        seed = tf.constant(req.pop('seed'))
        req = {{k: tf.constant(v) for k, v in req.items()}}
        probs = model.signatures['adapt_and_predict'](**req)['probs'].numpy()
        mc = model.signatures['adapt_and_predict_mc'](seed=seed, **req)['probs'].numpy()
        bal = model.signatures['balancing_variables'](
            support_images=req['support_images'], support_labels=req['support_labels'])
        bad = dict(req, support_labels=req['support_labels'] + 4)
        try:
          model.signatures['adapt_and_predict'](**bad)
          raise SystemExit('bad request accepted')
        except tf.errors.InvalidArgumentError as e:
          assert 'more classes than the model allows' in e.message, e.message
        np.savez('out.npz', probs=probs, mc=mc, omega=bal['omega'].numpy())
        """, cwd=work, timeout=120)
    with np.load(os.path.join(work, 'out.npz')) as out:
      self.assertAllClose(out['probs'], expected[:, :4], atol=1e-5, rtol=0)
      self.assertAllClose(out['mc'], expected_mc[:, :4], atol=1e-5, rtol=0)
      self.assertEqual(out['omega'].shape, (4,))

  def fake_save(self, fail):
    """A stand-in for tf.saved_model.save that writes part of an export, then maybe fails."""

    def save(obj, export_dir, signatures=None, options=None):
      del obj, signatures, options
      with open(os.path.join(export_dir, 'saved_model.pb'), 'w') as f:
        f.write('new')
      if fail:
        raise RuntimeError('disk full (simulated)')

    return mock.patch.object(tf.saved_model, 'save', save)

  def test_failed_export_leaves_nothing_behind(self):
    parent = temp_dir(self)
    target = os.path.join(parent, 'model')
    with self.fake_save(fail=True), self.assertRaisesRegex(RuntimeError, 'simulated'):
      export.export_saved_model(self.module, target)
    self.assertEqual(listing(parent), [])
    # With overwrite=True, a failed export keeps the previous model as it was.
    os.makedirs(target)
    with open(os.path.join(target, 'saved_model.pb'), 'w') as f:
      f.write('old')
    with self.fake_save(fail=True), self.assertRaisesRegex(RuntimeError, 'simulated'):
      export.export_saved_model(self.module, target, overwrite=True)
    self.assertEqual(listing(parent), ['model'])
    with open(os.path.join(target, 'saved_model.pb')) as f:
      self.assertEqual(f.read(), 'old')

  def test_existing_dir_needs_overwrite(self):
    parent = temp_dir(self)
    target = os.path.join(parent, 'model')
    os.makedirs(os.path.join(target, 'variables'))
    with open(os.path.join(target, 'saved_model.pb'), 'w') as f:
      f.write('old')
    with self.fake_save(fail=False), self.assertRaisesRegex(FileExistsError, 'overwrite=True'):
      export.export_saved_model(self.module, target)
    self.assertEqual(listing(target), ['saved_model.pb', 'variables'])
    with self.fake_save(fail=False):
      self.assertEqual(export.export_saved_model(self.module, target, overwrite=True), target)
    self.assertEqual(listing(parent), ['model'])
    self.assertEqual(listing(target), ['assets.extra', 'saved_model.pb'])
    with open(os.path.join(target, 'saved_model.pb')) as f:
      self.assertEqual(f.read(), 'new')

  def test_bad_module_settings(self):
    with self.assertRaisesRegex(ValueError, 'mc_samples must be >= 1'):
      serving.ServingModule(self.learner, mc_samples=0)
    with self.assertRaisesRegex(ValueError, 'inner_steps must be >= 0'):
      serving.ServingModule(self.learner, inner_steps=-1)


class SwitchedOffVariablesTest(tf.test.TestCase):
  """Variants without some balancing variables report their neutral values (in-process)."""

  def test_neutral_values(self):
    small = dict(channels=4, num_blocks=2, image_shape=(14, 14, 1), max_way=4,
                 test_inner_steps=1)
    ep, request = task_of(np.random.default_rng(12), [1, 3, 2], max_way=4, image_size=14)
    support = {k: request[k] for k in ('support_images', 'support_labels')}
    for name in ('maml', 'omega_taml'):
      with self.subTest(variant=name):
        keras.utils.set_random_seed(3)
        learner = MetaLearner(config_lib.variant(name, **small))
        module = serving.ServingModule(learner)
        out = module.balancing_variables(**support)
        self.assertAllClose(out['gamma'], tf.zeros([3]))
        self.assertAllClose(out['gamma_multiplier'], tf.ones([3]))
        self.assertAllClose(out['z'], tf.zeros([2 * 4 * 2]))
        if name == 'maml':
          self.assertAllClose(out['omega'], tf.fill([3], 1 / 3))
          self.assertAllClose(out['omega_mean'], tf.zeros([3]))
          expected, _ = learner.predict(ep, mode='mean')
          self.assertAllClose(module.adapt_and_predict(**request)['probs'], expected[:, :3],
                              atol=1e-5, rtol=0)
        else:
          self.assertAllClose(out['omega'], tf.nn.softmax(out['omega_mean']), atol=1e-6)
          self.assertEqual(out['omega_mean'].shape, (3,))


class ExportFromCheckpointTest(tf.test.TestCase):

  def test_round_trip(self):
    config = tiny_config(channels=4, num_blocks=2, image_shape=(14, 14, 1), max_way=4,
                         test_inner_steps=1, n_mc_samples=2)
    root = temp_dir(self)
    keras.utils.set_random_seed(1)
    trained = MetaLearner(config)
    perturb(trained, 1)
    # Every variable is reachable from tf.train.Checkpoint(learner=...).
    self.assertEqual(run_dir.uncheckpointed_variables(trained), [])
    checkpoint = tf.train.Checkpoint(learner=trained, step=tf.Variable(7, dtype=tf.int64))
    checkpoint.save(os.path.join(root, 'ckpt', 'ckpt'))
    # A checkpoint that does not hold a learner is refused.
    other = tf.train.Checkpoint(model=trained).save(os.path.join(root, 'other', 'ckpt'))
    with self.assertRaisesRegex(ValueError, 'does not hold the learner'):
      export.export_from_checkpoint(config, other, os.path.join(root, 'refused'))
    with self.assertRaisesRegex(FileNotFoundError, 'no checkpoint'):
      export.export_from_checkpoint(config, os.path.join(root, 'nothing'),
                                    os.path.join(root, 'refused'))
    keras.utils.set_random_seed(2)  # The exported learner starts from other weights.
    # Served up to 7 classes although trained with max_way=4: no parameter depends on it.
    target = export.export_from_checkpoint(config, os.path.join(root, 'ckpt'),
                                           os.path.join(root, 'model'), max_way=7)
    loaded = tf.saved_model.load(target)
    self.assertEqual(int(loaded.signatures['model_info']()['max_way']), 7)
    _, wide = task_of(np.random.default_rng(12), [1, 2, 1, 3, 1, 2], max_way=6, image_size=14)
    self.assertEqual(loaded.signatures['adapt_and_predict'](**wide)['probs'].shape, (12, 6))
    too_wide = dict(wide, support_labels=tf.where(wide['support_labels'] == 5, 7,
                                                  wide['support_labels']))
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, r'max_way=7'):
      loaded.signatures['adapt_and_predict'](**too_wide)
    # Below the training width the answers are those of the learner as trained (max_way=4).
    ep, request = task_of(np.random.default_rng(11), [2, 1, 3], max_way=4, image_size=14)
    expected, _ = trained.predict(ep, mode='mean')
    self.assertAllClose(loaded.signatures['adapt_and_predict'](**request)['probs'],
                        expected[:, :3], atol=1e-5, rtol=0)
    expected_mc, _ = trained.predict(ep, seed=SEED, mode='mc')
    self.assertAllClose(
        loaded.signatures['adapt_and_predict_mc'](seed=tf.constant(SEED), **request)['probs'],
        expected_mc[:, :3], atol=1e-5, rtol=0)


if __name__ == '__main__':
  tf.test.main()
