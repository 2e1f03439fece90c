"""The run folder: config.json (reading, checking a resumption, writing), checkpoint choice,
restoring a learner."""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from taml_tf.execution import execution_config
from taml_tf.execution import run_dir
from taml_tf.execution import trainer as trainer_lib
from taml_tf.method import config as config_lib
from taml_tf.method.learner import MetaLearner


def tiny_model(variant='bayesian_taml', **overrides):
  kw = dict(image_shape=(16, 16, 1), channels=4, num_blocks=2, max_way=3, max_shot=2,
            train_inner_steps=1, test_inner_steps=1, n_mc_samples=2, encoder_channels=4,
            encoder_features=8)
  kw.update(overrides)
  return config_lib.variant(variant, **kw)


DATA = {'id_datasets': ['embedded'], 'way': 3, 'data_dir': '/here'}


def tmpdir(test):
  path = tempfile.mkdtemp(prefix='run_dir_test_')
  test.addCleanup(shutil.rmtree, path, ignore_errors=True)
  return path


def write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(text)


class ConfigTest(tf.test.TestCase):

  def test_round_trip(self):
    savedir = tmpdir(self)
    model, train = tiny_model(), trainer_lib.TrainConfig(savedir, num_steps=2)
    run_dir.check_and_write_config(savedir, model, train, DATA)
    saved = run_dir.load_run_config(savedir)
    self.assertEqual(saved, json.loads(json.dumps(run_dir.resolved_config(model, train, DATA))))
    self.assertEqual(run_dir.load_model_config(savedir), model)
    self.assertEqual(trainer_lib.TrainConfig(**saved['train']), train)
    # Written atomically: no temporary file left next to it.
    self.assertEqual(os.listdir(savedir), [run_dir.CONFIG_FILE])

  def test_missing_or_corrupt_config_is_a_clear_error(self):
    savedir = tmpdir(self)
    with self.assertRaisesRegex(FileNotFoundError, 'config.json not found.*training folder'):
      run_dir.load_run_config(savedir)
    path = os.path.join(savedir, run_dir.CONFIG_FILE)
    write(path, '{"model": {"channels": 4')  # cut short, e.g. by a full disk
    with self.assertRaisesRegex(ValueError, 'config.json is not valid JSON.*corrupt'):
      run_dir.load_run_config(savedir)
    write(path, '{"model": {}, "data": {}}')
    with self.assertRaisesRegex(ValueError, 'lacks the train section'):
      run_dir.load_run_config(savedir)
    write(path, '[1, 2]')
    with self.assertRaisesRegex(ValueError, 'lacks the model, train, data section'):
      run_dir.load_run_config(savedir)

  def test_refused_resume_leaves_the_saved_config(self):
    savedir = tmpdir(self)
    train = trainer_lib.TrainConfig(savedir, num_steps=2)
    run_dir.check_and_write_config(savedir, tiny_model(), train, DATA)
    with open(os.path.join(savedir, run_dir.CONFIG_FILE)) as f:
      before = f.read()
    with self.assertRaisesRegex(run_dir.IncompatibleRunError, 'cannot resume.*model.channels'):
      run_dir.check_and_write_config(savedir, tiny_model(channels=8), train, DATA)
    with open(os.path.join(savedir, run_dir.CONFIG_FILE)) as f:
      self.assertEqual(f.read(), before)
    # A longer schedule is accepted and recorded; a worker (write=False) only checks.
    longer = dataclasses.replace(train, num_steps=9)
    run_dir.check_and_write_config(savedir, tiny_model(), longer, DATA, write=False)
    self.assertEqual(run_dir.load_run_config(savedir)['train']['num_steps'], 2)
    run_dir.check_and_write_config(savedir, tiny_model(), longer, DATA)
    self.assertEqual(run_dir.load_run_config(savedir)['train']['num_steps'], 9)

  def test_resume_allows_schedule_execution_and_data_dir_changes(self):
    model = tiny_model()
    saved = run_dir.resolved_config(model, trainer_lib.TrainConfig('a', num_steps=2), DATA)
    train = trainer_lib.TrainConfig('b', num_steps=10, save_freq=5, eval_freq=3, log_freq=2,
                                 max_to_keep=1)
    run_dir.check_resumable(saved, model, train, dict(DATA, data_dir='/elsewhere'))
    # Execution settings, in today's section or where older versions saved them, may differ.
    saved['execution'] = dataclasses.asdict(execution_config.ExecutionConfig(
        jit_compile=True, sequential_tasks=True, steps_per_call=2))
    run_dir.check_resumable(saved, model, train, DATA)
    old = json.loads(json.dumps(saved))
    del old['execution']
    old['model'].update(jit_compile=True, sequential_tasks=True)
    old['train']['steps_per_call'] = 3
    old['data']['pad_to'] = 'max'
    run_dir.check_resumable(old, model, train, DATA)
    with self.assertRaisesRegex(ValueError, 'model.channels.*train.best_rule'):
      run_dir.check_resumable(saved, model.replace(channels=8),
                              dataclasses.replace(train, best_rule='ood'), DATA)
    with self.assertRaisesRegex(ValueError, 'data.way'):
      run_dir.check_resumable(saved, model, train, dict(DATA, way=4))

  def test_resume_accepts_a_field_added_since_at_its_default_only(self):
    model, train = tiny_model(), trainer_lib.TrainConfig('a')
    saved = json.loads(json.dumps(run_dir.resolved_config(model, train, DATA)))
    del saved['model']['encoder_init'], saved['train']['max_to_keep']
    # Both at their defaults: the run had that behaviour.
    run_dir.check_resumable(saved, model, train, DATA)
    with self.assertRaisesRegex(run_dir.IncompatibleRunError, 'model.encoder_init'):
      run_dir.check_resumable(saved, model.replace(encoder_init='glorot'), train, DATA)

  def test_best_json(self):
    savedir = tmpdir(self)
    self.assertIsNone(run_dir.read_best(savedir))
    os.makedirs(run_dir.best_dir(savedir))
    best = {'step': 4, 'score': 0.5, 'rule': 'id', 'accuracy': {'a': 0.5}}
    run_dir.write_best(savedir, best)
    self.assertEqual(run_dir.read_best(savedir), best)


class CheckpointPathTest(tf.test.TestCase):

  def test_fallbacks_and_errors(self):
    savedir = tmpdir(self)
    with self.assertRaisesRegex(FileNotFoundError, 'no checkpoint.*train first'):
      run_dir.checkpoint_path(savedir)
    with self.assertRaisesRegex(ValueError, "'best', 'latest' or a step number"):
      run_dir.checkpoint_path(savedir, 'newest')
    self.assertIsNone(run_dir.latest_checkpoint(savedir))
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    latest = tf.train.CheckpointManager(ckpt, run_dir.checkpoint_dir(savedir), 2)
    latest.save(checkpoint_number=5)
    # No best checkpoint (validation never ran): best falls back to the latest.
    self.assertEndsWith(run_dir.checkpoint_path(savedir, 'best'), 'ckpt-5')
    best = tf.train.CheckpointManager(ckpt, run_dir.best_dir(savedir), 1,
                                      checkpoint_name='best')
    best.save(checkpoint_number=3)
    latest.save(checkpoint_number=7)
    # A best checkpoint older than the latest is still the best one.
    self.assertEndsWith(run_dir.checkpoint_path(savedir, 'best'), 'best-3')
    self.assertEndsWith(run_dir.latest_checkpoint(savedir), 'ckpt-7')
    # A step picks that step's checkpoint; a step not kept names the ones that are.
    self.assertEqual(run_dir.checkpoint_path(savedir, '5'),
                     os.path.join(savedir, 'checkpoints', 'ckpt-5'))
    self.assertEqual(run_dir.checkpoint_path(savedir, 7),
                     run_dir.checkpoint_path(savedir, 'latest'))
    with self.assertRaisesRegex(FileNotFoundError, r'no checkpoint at step 6; kept: \[5, 7\]'):
      run_dir.checkpoint_path(savedir, '6')
    self.assertEndsWith(run_dir.checkpoint_path(savedir, 'latest'), 'ckpt-7')


class RestoreTest(tf.test.TestCase):

  def test_restore_reads_the_runs_config_and_checkpoint(self):
    savedir = tmpdir(self)
    model = tiny_model()
    run_dir.check_and_write_config(savedir, model, trainer_lib.TrainConfig(savedir), DATA)
    keras.utils.set_random_seed(1)
    trained = MetaLearner(model)
    # Every variable is reachable from tf.train.Checkpoint(learner=...).
    self.assertEqual(run_dir.uncheckpointed_variables(trained), [])
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(learner=trained, step=step),
                                         run_dir.checkpoint_dir(savedir), 3, step_counter=step)
    manager.save(checkpoint_number=2)
    expected = [v.numpy() for _, v in run_dir.learner_variables(trained)]
    keras.utils.set_random_seed(2)  # The restored learner starts from other weights.
    learner, path = run_dir.restore(savedir, 'latest')
    self.assertEndsWith(path, 'ckpt-2')
    self.assertEqual(learner.config, model)
    for a, (_, b) in zip(expected, run_dir.learner_variables(learner)):
      np.testing.assert_array_equal(a, b.numpy())
    self.assertEqual({c.compute_dtype for c in learner.backbone.convs},
                     {'float32'})
    # The float32 checkpoint restores into a bfloat16-compute learner: same float32 variables.
    bf16 = run_dir.restore_learner(model, path, precision='mixed_bfloat16')
    self.assertEqual(bf16.precision, 'mixed_bfloat16')
    self.assertEqual({c.compute_dtype for c in bf16.backbone.convs}, {'bfloat16'})
    for a, (_, b) in zip(expected, run_dir.learner_variables(bf16)):
      self.assertEqual(b.dtype, tf.float32)
      np.testing.assert_array_equal(a, b.numpy())
    # Another configuration than the checkpoint's is refused.
    with self.assertRaisesRegex(ValueError, 'incompatible tensor'):
      run_dir.restore(savedir, 'latest', model.replace(channels=8))
    other = tf.train.Checkpoint(model=trained).save(os.path.join(savedir, 'other', 'ckpt'))
    with self.assertRaisesRegex(ValueError, 'does not hold the learner'):
      run_dir.restore_learner(model, other)
    with self.assertRaisesRegex(FileNotFoundError, 'no checkpoint'):
      run_dir.restore_learner(model, os.path.join(savedir, 'nothing'))


if __name__ == '__main__':
  tf.test.main()
