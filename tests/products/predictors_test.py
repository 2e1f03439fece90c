"""The meta-test's two predictor drivers: a learner's (Predictor) and a SavedModel's."""

import os

import keras
import numpy as np
import tensorflow as tf

from taml_tf.method import episodes as episodes_lib
from taml_tf.method.learner import MetaLearner
from taml_tf.products import export
from taml_tf.products import predictors
from tests import helpers

SEED = np.array([4, 1], np.int32)


def episode(rng, shots=(2, 1), queries=(2, 1), max_way=3, support_size=None, query_size=None):
  """A 16x16 random task of len(shots) classes (tiny_model's image size), padded as asked."""
  labels = lambda counts: np.repeat(np.arange(len(counts)), counts)
  images = lambda n: rng.uniform(size=(n, 16, 16, 1)).astype(np.float32)
  return episodes_lib.from_arrays(images(sum(shots)), labels(shots), images(sum(queries)),
                                  labels(queries), max_way=max_way, support_size=support_size,
                                  query_size=query_size)


def real_rows(ep):
  """The same task with its padding rows dropped."""
  s, q = ep.support_mask > 0, ep.query_mask > 0
  return episodes_lib.Episode(ep.support_images[s], ep.support_labels[s], ep.support_mask[s],
                              ep.query_images[q], ep.query_labels[q], ep.query_mask[q],
                              ep.class_mask)


class PredictorTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(0)
    cls.learner = MetaLearner(helpers.tiny_model())
    cls.rng = np.random.default_rng(0)

  def test_is_the_learners_predict_with_its_balancing_variables(self):
    ep = episode(self.rng)
    for mode, samples in (('mean', None), ('mc', 2)):
      got = predictors.Predictor(self.learner, mode, samples, 1)(ep, SEED)
      probs, bal = self.learner.predict(episodes_lib.to_tensors(ep), SEED, mode=mode,
                                        num_samples=samples, num_steps=1)
      self.assertAllClose(got['probs'], probs, atol=1e-5, msg=mode)
      self.assertEqual(sorted(got), ['exp_gamma', 'omega', 'probs', 'z'])
      # omega: a softmax over the task's two real classes; the padded third class gets 0.
      self.assertAllClose(got['omega'].sum(), 1.0, atol=1e-5)
      self.assertEqual(got['omega'][2], 0.0)
      self.assertAllClose(got['exp_gamma'], np.exp(bal.gamma), atol=1e-5)
      self.assertAllClose(got['z'], bal.z, atol=1e-5)
    # Monte-Carlo draws follow the seed.
    mc = predictors.Predictor(self.learner, 'mc', 2, 1)
    self.assertNotAllClose(mc(ep, SEED)['probs'], mc(ep, SEED + 1)['probs'])

  def test_records_only_the_variables_switched_on(self):
    maml = MetaLearner(helpers.tiny_model('maml'))
    got = predictors.Predictor(maml, 'mean', None, 1)(episode(self.rng), SEED)
    self.assertEqual(list(got), ['probs'])

  def test_traces_once_for_any_padding(self):
    predictor = predictors.Predictor(self.learner, 'mc', 2, 1)
    ep = episode(self.rng, support_size=6, query_size=5)
    tight = real_rows(ep)
    parts = (tight.support_images, tight.support_labels, tight.query_images, tight.query_labels)
    loose = episodes_lib.from_arrays(*parts, max_way=3, support_size=12, query_size=9)
    a, b, c = predictor(ep, SEED), predictor(tight, SEED), predictor(loose, SEED)
    self.assertLen({x.support_images.shape[0] for x in (ep, tight, loose)}, 3)
    self.assertEqual(predictor.traces, 1)
    m = len(tight.query_labels)
    self.assertAllClose(a['probs'][:m], b['probs'], atol=1e-5)
    self.assertAllClose(b['probs'], c['probs'][:m], atol=1e-5)
    self.assertAllClose(a['omega'], c['omega'], atol=1e-5)
    # Another class count is another trace.
    predictor(episode(self.rng, max_way=2), SEED)
    self.assertEqual(predictor.traces, 2)

  def test_support_rows_are_the_authors_padding_only_when_switched_on(self):
    ep = episode(self.rng)
    plain = predictors.Predictor(self.learner, 'mean', None, 1)
    self.assertFalse(plain.padded)
    self.assertAllClose(plain(ep, SEED, support_rows=12)['probs'], plain(ep, SEED)['probs'])
    padded_learner = MetaLearner(helpers.tiny_model(authors_padding=True))
    padded = predictors.Predictor(padded_learner, 'mean', None, 1)
    self.assertTrue(padded.padded)
    probs, _ = padded_learner.predict(episodes_lib.to_tensors(ep), SEED, mode='mean',
                                      num_steps=1, support_rows=12)
    got = padded(ep, SEED, support_rows=12)['probs']
    self.assertAllClose(got, probs, atol=1e-5)
    # Twelve rows, nine of them zeros, move batch norm's statistics.
    self.assertNotAllClose(got, padded(ep, SEED)['probs'], atol=1e-4)


class SavedModelPredictorTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(1)
    cls.learner = MetaLearner(helpers.tiny_model())

  def setUp(self):
    super().setUp()
    self.dir = helpers.tmpdir(self)

  def test_gives_the_learners_probabilities_in_the_padded_layout(self):
    path = export.export_saved_model(self.learner, os.path.join(self.dir, 'model'),
                                     inner_steps=1, mc_samples=2)
    ep = episode(np.random.default_rng(3), support_size=5, query_size=6, max_way=3)
    for mode, samples in (('mean', None), ('mc', 2)):
      got = predictors.SavedModelPredictor(path, mode)(ep, SEED)['probs']
      want = predictors.Predictor(self.learner, mode, samples, 1)(ep, SEED)['probs']
      self.assertEqual(got.shape, (6, 3))
      self.assertAllClose(got[:3, :2], want[:3, :2], atol=1e-5, msg=mode)
      self.assertAllEqual(got[3:], np.zeros((3, 3)))  # padding rows
      self.assertAllEqual(got[:, 2], np.zeros(6))     # the padded class
    predictor = predictors.SavedModelPredictor(path, 'mc')
    self.assertEqual(int(predictor.info['max_way']), 3)
    self.assertNotAllClose(predictor(ep, SEED)['probs'], predictor(ep, SEED + 1)['probs'])

  def test_refuses_a_bad_mode_and_a_folder_without_a_saved_model(self):
    with self.assertRaisesRegex(ValueError, "mode must be one of .*'sample'"):
      predictors.SavedModelPredictor(self.dir, 'sample')
    with self.assertRaisesRegex(FileNotFoundError, 'not a SavedModel folder'):
      predictors.SavedModelPredictor(self.dir, 'mean')


if __name__ == '__main__':
  tf.test.main()
