"""TamlModel, the Keras front door: fit is the Trainer's meta-update, get_config round-trips,
save / load keeps the weights, adapt once then predict, export, a Trainer's run folder, and
the refusals."""

import os

import keras
import numpy as np
import tensorflow as tf

import taml_tf
from taml_tf.data import experiment
from taml_tf.execution import run_dir
from taml_tf.method import episodes as episodes_lib
from taml_tf.method.task_shape import TaskShape
from taml_tf.products import evaluation
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
    self.assertEqual(sorted(k for k in history.history if k.startswith('val_')),
                     ['val_accuracy', 'val_ece', 'val_loss', 'val_nll'])
    self.assertTrue(os.path.exists(os.path.join(folder, 'best.keras')))
    self.assertTrue(os.listdir(os.path.join(folder, 'logs')))
    scores = model.evaluate(val, verbose=0, return_dict=True)
    self.assertBetween(scores['accuracy'], 0.0, 1.0)
    self.assertEqual(scores['loss'], scores['nll'])
    self.assertEqual(model.evaluate(val, verbose=0),
                     [scores[k] for k in keras_model.VALIDATION_METRICS])
    # steps counts batches, as in Keras: one batch of 2 episodes.
    self.assertEqual(model.evaluate(val, verbose=0, steps=1, return_dict=True),
                     model.evaluate(val.take(1), verbose=0, return_dict=True))
    with self.assertRaisesRegex(ValueError, 'takes no y'):
      model.evaluate(val, y=np.zeros(4))


class SameValidationAsTheTrainerTest(tf.test.TestCase):
  """fit's validation_data and evaluate report taml-train's validation numbers."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    data = helpers.tiny_data()
    # What helpers.make_trainer(validation=True) gives the Trainer: single-episode batches.
    sets = experiment.evaluation_sets(data, 'val', 2)
    cls.name = next(k for k in sets if k not in experiment.ood_names(data))
    cls.val = sets[cls.name]

  def assert_reports_equal(self, logs, report, prefix=''):
    self.assertEqual(logs[prefix + 'accuracy'], report.accuracy[self.name])
    for key in ('nll', 'ece'):
      self.assertEqual(logs[prefix + key], report.scalars[f'{self.name}/{key}'], msg=key)
    self.assertEqual(logs[prefix + 'loss'], report.scalars[f'{self.name}/nll'])

  def test_fit_and_evaluate_report_the_trainers_validation(self):
    savedir = helpers.tmpdir(self)
    trainer = helpers.make_trainer(savedir, num_steps=2, validation=True, eval_freq=2)
    trainer.run()
    # fit's val_ metrics at the end of its epoch are the Trainer's validation (its own
    # callback) of the weights fit reached, on the same episodes.
    model = tiny()
    model.compile()
    history = model.fit(train_stream(), steps_per_epoch=2, epochs=1, verbose=0,
                        validation_data=self.val)
    logs = {k: v[-1] for k, v in history.history.items()}
    self.assert_reports_equal(logs, trainer.validation(model.learner), prefix='val_')
    # evaluate on the Trainer's checkpoint gives what the Trainer measured and kept its best
    # checkpoint by (best.json; the 'id' rule reads this set's accuracy).
    loaded = keras_model.TamlModel.from_run(savedir, 'latest')
    scores = loaded.evaluate(self.val, verbose=0, return_dict=True)
    best = run_dir.read_best(savedir)
    self.assertEqual(best['step'], 2)
    self.assertEqual(scores['accuracy'], best['accuracy'][self.name])
    self.assert_reports_equal(scores, trainer.validate())

  def test_the_authors_padding_pads_each_batch_as_a_meta_batch(self):
    # taml-train pads the episodes of each meta-batch of its size to the longest support set;
    # evaluate pads those of each batch of its dataset: batched by 2, the Trainer's numbers.
    model = tiny(authors_padding=True)
    report = evaluation.validation_callback(lambda: {self.name: self.val}, model.seed,
                                            meta_batch=2)(model.learner)
    scores = model.evaluate(self.val.unbatch().batch(2), verbose=0, return_dict=True)
    self.assert_reports_equal(scores, report)


class OptimizerTest(tf.test.TestCase):

  def test_a_compiled_optimizer_steps_with_the_clipped_meta_gradient(self):
    # A clip that binds, so that an unclipped step would differ.
    model = tiny(grad_clip=1e-4)
    sgd = keras.optimizers.SGD(learning_rate=0.5)
    model.compile(optimizer=sgd)
    self.assertIs(model.optimizer, sgd)
    batch = model.learner.validate(next(iter(train_stream())), batched=True)
    grads, _ = model._update.compute_gradients(batch, tf.constant([model.seed, 0], tf.int32))
    self.assertGreater(max(float(tf.reduce_max(tf.abs(g))) for g in grads), 1e-4)
    before = [v.numpy() for v in model.learner.meta_variables]
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    self.assertGreater(history.history['clip_fraction'][0], 0.0)
    for b, g, v in zip(before, grads, model.learner.meta_variables):
      self.assertAllClose(v.numpy(), b - 0.5 * np.clip(g.numpy(), -1e-4, 1e-4), atol=1e-7,
                          msg=v.path)

  def test_a_name_gets_the_methods_learning_rate(self):
    model = tiny('maml', meta_lr=3e-3)
    model.compile(optimizer='sgd')
    self.assertIsInstance(model.optimizer, keras.optimizers.SGD)
    self.assertAllClose(float(model.optimizer.learning_rate), 3e-3)
    self.assertEqual(model.get_compile_config()['optimizer']['class_name'], 'SGD')
    model.compile()  # back to the method's Adam(meta_lr)
    self.assertIsInstance(model.optimizer, keras.optimizers.Adam)
    self.assertAllClose(float(model.optimizer.learning_rate), 3e-3)
    self.assertNotIn('optimizer', model.get_compile_config())

  def test_save_and_load_keep_a_compiled_optimizer_and_its_state(self):
    model = tiny()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9))
    model.fit(train_stream(), steps_per_epoch=1, epochs=1, verbose=0)
    path = os.path.join(helpers.tmpdir(self), 'sgd.keras')
    model.save(path)
    loaded = keras.models.load_model(path)
    self.assertIsInstance(loaded.optimizer, keras.optimizers.SGD)
    self.assertIs(loaded.optimizer, loaded._update.optimizer)
    self.assertAllClose(float(loaded.optimizer.learning_rate), 0.05)
    self.assertAllClose(loaded.optimizer.momentum, 0.9)
    self.assertEqual(int(loaded.optimizer.iterations.numpy()), 1)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
      self.assertAllEqual(a.numpy(), b.numpy(), msg=a.path)
    stream = train_stream().skip(1)
    for m in (model, loaded):
      m.fit(stream, steps_per_epoch=1, epochs=1, verbose=0)
    for a, b in zip(model.learner.meta_variables, loaded.learner.meta_variables):
      self.assertAllClose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, msg=a.path)


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

  def test_compile_refuses_what_cannot_work(self):
    model = tiny('maml')
    for kwargs, message in (
        (dict(loss='mse'), "loss='mse': the loss is the method's own objective"),
        (dict(metrics=['accuracy']), "metrics=.*the metrics are the method's own"),
        (dict(jit_compile=True), r'jit_compile=True: .*ExecutionConfig\(jit_compile=True\)'),
        (dict(loss_weights=[1.0]), r'loss_weights=\[1.0\]: not used'),
        (dict(optimizer='no_such_optimizer'), "'no_such_optimizer' names no Keras optimizer"),
        (dict(optimizer=0.1), 'takes a keras.optimizers.Optimizer, the name of one or None')):
      with self.assertRaisesRegex(ValueError, message, msg=str(kwargs)):
        model.compile(**kwargs)
    used = keras.optimizers.SGD()
    tiny('maml').compile(optimizer=used)
    with self.assertRaisesRegex(ValueError, 'already built'):
      model.compile(optimizer=used)

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
