"""TamlModel, the Keras front door: fit is the Trainer's meta-update, get_config round-trips,
save / load keeps the weights, adapt once then predict, export, a Trainer's run folder, and
the refusals."""

import os

import keras
import numpy as np
import tensorflow as tf

import taml_tf
from taml_tf.method import episodes as episodes_lib
from taml_tf.method.task_shape import TaskShape
from taml_tf.products import keras_model
from tests import helpers

# The tiny model and tasks of tests/helpers.py.
TASK = TaskShape(way=helpers.WAY, max_shot=helpers.SHOT, query=helpers.QUERY)


def tiny(variant='bayesian_taml', seed=3, **overrides):
  return keras_model.TamlModel(config=helpers.tiny_model(variant, **overrides), task=TASK,
                               seed=seed)


def train_stream(meta_batch=2, seed=3):
  """The tiny data's training stream, as helpers.make_trainer's Trainer reads it."""
  return helpers.dataset_fn(helpers.tiny_data(), seed, meta_batch, 'max')(0, None)


def first_episode():
  batch = next(iter(train_stream()))
  return episodes_lib.Episode(*[x[0] for x in batch])


def real_support(task):
  rows = np.asarray(task.support_mask) > 0
  return np.asarray(task.support_images)[rows], np.asarray(task.support_labels)[rows]


class FitTest(tf.test.TestCase):

  def test_fit_takes_the_trainers_meta_update(self):
    # The same seed, stream and schedule: fit and taml-train's Trainer reach the same weights
    # (one meta-update code path, seeded [seed, step] on both).
    trainer = helpers.make_trainer(helpers.tmpdir(self), num_steps=3)
    trainer.run()
    model = tiny()
    model.compile()
    history = model.fit(train_stream(), steps_per_epoch=3, epochs=1, verbose=0)
    self.assertEqual(int(model.optimizer.iterations.numpy()), 3)
    self.assertEqual(sorted(history.history),
                     ['accuracy', 'clip_fraction', 'cross_entropy', 'kl', 'loss'])
    mine, theirs = model.learner.meta_variables, trainer.learner.meta_variables
    self.assertEqual(len(mine), len(theirs))
    for a, b in zip(mine, theirs):
      self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, msg=a.path)

  def test_validation_callbacks_and_evaluate(self):
    folder = helpers.tmpdir(self)
    model = tiny()
    model.compile()
    val = taml_tf.make_episodes('embedded', TASK, meta_batch=2, num_episodes=4,
                                image_shape=(16, 16, 1), split='val')
    callbacks = [keras.callbacks.EarlyStopping('val_accuracy', mode='max', patience=0),
                 keras.callbacks.TensorBoard(os.path.join(folder, 'logs')),
                 keras.callbacks.ModelCheckpoint(os.path.join(folder, 'best.keras'),
                                                 monitor='val_accuracy', mode='max')]
    history = model.fit(train_stream(), steps_per_epoch=2, epochs=3, verbose=0,
                        validation_data=val, callbacks=callbacks)
    for key in ('val_loss', 'val_accuracy', 'val_cross_entropy', 'val_kl'):
      self.assertIn(key, history.history)
    self.assertTrue(os.path.exists(os.path.join(folder, 'best.keras')))
    self.assertTrue(os.listdir(os.path.join(folder, 'logs')))
    scores = model.evaluate(val, verbose=0, return_dict=True)
    self.assertBetween(scores['accuracy'], 0.0, 1.0)
    self.assertTrue(np.isfinite(scores['loss']))


class ConfigAndSavingTest(tf.test.TestCase):

  def test_get_config_round_trips(self):
    model = tiny('metasgd', meta_lr=3e-3)
    clone = keras_model.TamlModel.from_config(model.get_config())
    self.assertEqual(clone.model_config, model.model_config)
    self.assertEqual(clone.task, model.task)
    self.assertEqual(clone.execution, model.execution)
    self.assertEqual(clone.get_config(), model.get_config())

  def test_save_and_load_keep_the_weights_and_predictions(self):
    model = tiny()
    model.compile()
    model.fit(train_stream(), steps_per_epoch=1, epochs=1, verbose=0)
    path = os.path.join(helpers.tmpdir(self), 'learner.keras')
    model.save(path)
    loaded = keras.models.load_model(path)
    self.assertIsInstance(loaded, keras_model.TamlModel)
    for a, b in zip(model.learner.meta_variables, loaded.learner.meta_variables):
      self.assertAllEqual(a.numpy(), b.numpy())
    task = first_episode()
    images, labels = real_support(task)
    self.assertAllClose(model.adapt(images, labels)(task.query_images),
                        loaded.adapt(images, labels)(task.query_images), atol=1e-6)
    # The optimizer state comes back too: one more step from each gives the same weights.
    self.assertEqual(int(loaded.optimizer.iterations.numpy()), 1)
    stream = train_stream().skip(1)
    for m in (model, loaded):
      m.fit(stream, steps_per_epoch=1, epochs=1, verbose=0)
    for a, b in zip(model.learner.meta_variables, loaded.learner.meta_variables):
      self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    # Exact resume: saved after one update, loaded, and fed the stream past the episodes
    # done, it reaches the weights of two updates in one go (the seeds follow the restored
    # step counter).
    straight = tiny()
    straight.compile()
    straight.fit(train_stream(), steps_per_epoch=2, epochs=1, verbose=0)
    for a, b in zip(straight.learner.meta_variables, loaded.learner.meta_variables):
      self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, msg=a.path)

  def test_a_trainer_run_folder_loads(self):
    savedir = helpers.tmpdir(self)
    trainer = helpers.make_trainer(savedir, num_steps=2)
    trainer.run()
    model = keras_model.TamlModel.from_run(savedir, 'latest')
    self.assertEqual(model.model_config, trainer.model_config)
    for a, b in zip(model.learner.meta_variables, trainer.learner.meta_variables):
      self.assertAllEqual(a.numpy(), b.numpy())


class AdaptTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.model = tiny()
    cls.task = first_episode()
    cls.images, cls.labels = real_support(cls.task)
    cls.adapted = cls.model.adapt(cls.images, cls.labels)

  def test_adapted_predictions_equal_adapt_and_predict(self):
    # What the learner's meta-test computes for the same support and query set.
    probs, _ = self.model.learner.predict(self.task)
    way = self.adapted.way
    self.assertEqual(way, helpers.WAY)
    self.assertAllClose(self.adapted.predict(self.task.query_images, verbose=0),
                        probs.numpy()[:, :way], atol=1e-5)

  def test_predicting_again_does_not_adapt_again(self):
    learner = self.model.learner
    original = learner.adapt

    def refuse(*args, **kwargs):
      raise AssertionError('adapted again')
    learner.adapt = refuse
    try:
      first = self.adapted(self.task.query_images)
      again = self.adapted.predict(self.task.query_images, verbose=0)
    finally:
      learner.adapt = original
    self.assertAllClose(first, again, atol=1e-6)
    self.assertAllClose(np.sum(again, -1), np.ones(len(again)), atol=1e-5)

  def test_monte_carlo_adaptation(self):
    mc = self.model.adapt(self.images, self.labels, mode='mc', num_samples=3, seed=(1, 2))
    probs = mc(self.task.query_images).numpy()
    self.assertAllClose(probs.sum(-1), np.ones(len(probs)), atol=1e-5)
    self.assertNotAllClose(probs, self.adapted(self.task.query_images).numpy(), atol=1e-6)
    # The same draws as the learner's Monte-Carlo meta-test with that seed, one sample too
    # (which is a draw, not the posterior mean).
    for samples, adapted in ((3, mc), (1, self.model.adapt(self.images, self.labels, mode='mc',
                                                           num_samples=1, seed=(1, 2)))):
      expected, _ = self.model.learner.predict(self.task, seed=(1, 2), mode='mc',
                                               num_samples=samples)
      self.assertAllClose(adapted(self.task.query_images), expected.numpy()[:, :adapted.way],
                          atol=1e-5, msg=f'{samples} samples')

  def test_predict_step_adapts_to_each_episode(self):
    batch = next(iter(train_stream()))
    probs = self.model.predict(tf.data.Dataset.from_tensors(batch), verbose=0)
    self.assertEqual(probs.shape[:2], batch.query_images.shape[:2])
    expected, _ = self.model.learner.predict(episodes_lib.Episode(*[x[1] for x in batch]))
    self.assertAllClose(probs[1], expected, atol=1e-5)

  def test_export_serves_the_same_predictions(self):
    path = self.model.export(os.path.join(helpers.tmpdir(self), 'served'))
    served = tf.saved_model.load(path)
    out = served.signatures['adapt_and_predict'](
        support_images=tf.constant(self.images), support_labels=tf.constant(self.labels),
        query_images=self.task.query_images)
    self.assertAllClose(out['probs'], self.adapted(self.task.query_images), atol=1e-5)


class RefusalsTest(tf.test.TestCase):

  def test_config_and_task_shape_must_agree(self):
    with self.assertRaisesRegex(ValueError, r'max_shot=7 .* ModelConfig.max_shot=2'):
      keras_model.TamlModel(config=helpers.tiny_model(), task=TaskShape(
          way=helpers.WAY, max_shot=7, query=1))

  def test_compile_refuses_a_loss_or_optimizer(self):
    model = tiny('maml')
    with self.assertRaisesRegex(ValueError, 'optimizer'):
      model.compile(optimizer='sgd')
    with self.assertRaisesRegex(ValueError, 'loss'):
      model.compile(loss='mse')

  def test_adapt_refuses_bad_input(self):
    model = tiny('maml')
    images, labels = real_support(first_episode())
    with self.assertRaisesRegex(ValueError, 'mode'):
      model.adapt(images, labels, mode='median')
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError, 'missing class'):
      model.adapt(images, np.where(labels == 1, 2, labels))
    with self.assertRaisesRegex(ValueError, 'query images must be'):
      model.adapt(images, labels)(np.zeros((2, 8, 8, 1), np.float32))


if __name__ == '__main__':
  tf.test.main()
