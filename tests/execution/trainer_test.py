"""Trainer: resume equivalence, the resumed data stream, refused resumes, non-finite losses,
the best-checkpoint rule, stopping on SIGTERM, config.json and TensorBoard summaries (the run
folder's own functions: tests/execution/run_dir_test.py)."""

import json
import os
import shutil
import signal
from unittest import mock

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
# Private: TF has no public getter of op determinism (tf.config.experimental has only
# enable_op_determinism), which setUp checks is off.
from tensorflow.python.framework import config as tf_config

from taml_tf.data import experiment
from taml_tf.execution import execution_config
from taml_tf.execution import run_dir
from taml_tf.execution import trainer as trainer_lib
from taml_tf.method import config as config_lib
from taml_tf.method import episodes
from taml_tf.method import inner_loop
from taml_tf.method import meta_update
from taml_tf.method.learner import MetaLearner
from tests import tasks
from tests.helpers import TESTDATA
from tests.helpers import flat
from tests.helpers import make_trainer
from tests.helpers import state
from tests.helpers import tiny_data
from tests.helpers import tiny_model
from tests.helpers import tmpdir

try:  # Same split as tests/conftest.py when this file runs on its own.
  from taml_tf.execution import distribute
  distribute.split_cpu(2)
except RuntimeError:
  pass

class TrainerTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    # Resume equivalence must hold without op determinism (the binaries' default).
    self.assertFalse(tf_config.is_op_determinism_enabled())

  def assertStatesEqual(self, a, b):
    self.assertEqual(sorted(a), sorted(b))
    self.assertEqual(a['step'], b['step'])
    self.assertEqual(a['iterations'], b['iterations'])
    for k in a:
      self.assertAllClose(a[k], b[k], rtol=1e-6, atol=1e-7, msg=k)

  def test_resume_reaches_the_uninterrupted_parameters(self):
    full = make_trainer(tmpdir(self), num_steps=4)
    initial = state(full)
    self.assertEqual(full.run()['step'], 4)
    expected = state(full)
    # Training moved the parameters (the comparison below is not vacuous).
    moved = [k for k in expected if k.startswith('var')
             and not np.allclose(expected[k], initial[k])]
    self.assertNotEmpty(moved)

    savedir = tmpdir(self)
    first = make_trainer(savedir, num_steps=2)
    self.assertStatesEqual(initial, state(first))  # the seed fixes the initial parameters
    self.assertEqual(first.run()['step'], 2)
    resumed = make_trainer(savedir, num_steps=4)  # num_steps may grow on resume
    self.assertEqual(resumed.restore(), 2)
    self.assertEqual(int(resumed.optimizer.iterations.numpy()), 2)
    self.assertStatesEqual(state(first), state(resumed))
    self.assertEqual(resumed.run()['step'], 4)
    got = state(resumed)
    self.assertEqual(got['iterations'], 4)
    self.assertStatesEqual(expected, got)
    # A finished run started again trains nothing.
    again = make_trainer(savedir, num_steps=4)
    self.assertEqual(again.run()['step'], 4)
    self.assertStatesEqual(expected, state(again))

  def test_precision_and_recompute_apply_on_resume(self):
    savedir = tmpdir(self)
    self.assertEqual(make_trainer(savedir, num_steps=2).run()['step'], 2)
    copy = tmpdir(self)
    shutil.copytree(savedir, copy, dirs_exist_ok=True)
    plain = make_trainer(savedir, num_steps=3)
    self.assertEqual(plain.run()['step'], 3)
    # The float32 checkpoint resumes with recompute: the same update (activations recomputed,
    # not kept), so the same parameters up to float rounding.
    calls = []
    original = inner_loop.recomputed

    def counting(fn):
      calls.append(fn)
      return original(fn)

    recompute = execution_config.ExecutionConfig(pad_to='max', recompute=True)
    with mock.patch.object(inner_loop, 'recomputed', counting):
      again = make_trainer(copy, num_steps=3, execution=recompute)
      self.assertTrue(again.learner.recompute)
      self.assertEqual(again.run()['step'], 3)
    self.assertNotEmpty(calls)  # the inner steps really were wrapped
    for a, b in zip(plain.learner.meta_variables, again.learner.meta_variables):
      self.assertAllClose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-5, msg=a.name)
    # And with bfloat16 layers: the same checkpoint restores, the convolutions run in bfloat16.
    half = make_trainer(copy, num_steps=4, execution=execution_config.ExecutionConfig(
        pad_to='max', precision='mixed_bfloat16'))
    self.assertEqual(half.restore(), 3)
    self.assertEqual(half.learner.backbone.convs[0].compute_dtype, 'bfloat16')
    self.assertEqual(half.learner.backbone.convs[0].kernel.dtype, 'float32')
    summary = half.run()
    self.assertEqual(summary['step'], 4)
    self.assertTrue(np.isfinite(float(summary['metrics']['loss'])))

  def test_resumed_data_stream_continues_where_it_stopped(self):
    trainer = make_trainer(tmpdir(self))
    stream = iter(trainer.make_iterator(0))
    batches = [flat(next(stream)) for _ in range(3)]
    resumed = iter(trainer.make_iterator(2))
    after = flat(next(resumed))
    for x, y in zip(batches[2], after):
      self.assertAllEqual(x, y)
    # and differs from the first batch (the stream does move).
    self.assertNotAllClose(batches[0][0], after[0])

  def test_steps_per_call_stops_at_num_steps(self):
    trainer = make_trainer(tmpdir(self), num_steps=3, model=tiny_model('metasgd'),
                           execution=execution_config.ExecutionConfig(pad_to='max', steps_per_call=2))
    self.assertEqual(trainer.run()['step'], 3)
    self.assertEqual(int(trainer.optimizer.iterations.numpy()), 3)
    self.assertEqual(trainer.manager.latest_checkpoint.rsplit('-', 1)[1], '3')

  def test_incompatible_resume_is_refused(self):
    savedir = tmpdir(self)
    make_trainer(savedir).restore()  # writes config.json
    before = open(os.path.join(savedir, 'config.json')).read()
    changes = [(dict(model=tiny_model('metasgd')), 'model.gamma_on.*model.omega_on'),
               (dict(model=tiny_model(max_way=4), data=tiny_data(way=4)), 'data.way'),
               (dict(meta_batch=4), 'train.meta_batch'),
               (dict(seed=9), 'train.seed')]
    for change, field in changes:
      with self.subTest(field):
        with self.assertRaisesRegex(run_dir.IncompatibleRunError, 'cannot resume.*' + field):
          make_trainer(savedir, num_steps=8, **change).restore()
        # The saved configuration is left as it was.
        self.assertEqual(before, open(os.path.join(savedir, 'config.json')).read())
    # A longer schedule is accepted.
    self.assertEqual(make_trainer(savedir, num_steps=8, save_freq=4).restore(), 0)

  def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(self):
    savedir = tmpdir(self)
    model = tiny_model('metasgd')
    first = make_trainer(savedir, num_steps=2, model=model)
    first.run()
    good = state(first)
    poisoned = make_trainer(savedir, num_steps=4, model=model)
    original = poisoned.learner.task_loss

    def task_loss(*args, **kwargs):  # every task's loss, hence the meta-batch's, is infinite
      loss, out = original(*args, **kwargs)
      return loss + tf.constant(np.inf, tf.float32), out

    poisoned.learner.task_loss = task_loss
    with self.assertRaisesRegex(FloatingPointError, r'non-finite loss at step 3\b.*ckpt-2'):
      poisoned.run()
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(
        os.path.join(savedir, 'checkpoints'))), 'ckpt-2')
    again = make_trainer(savedir, num_steps=4, model=model)
    self.assertEqual(again.restore(), 2)
    self.assertStatesEqual(good, state(again))
    # The summaries written before the failure reached the disk.
    self.assertIn('loss', _scalars(os.path.join(savedir, 'logs', 'train')))

  def test_sigterm_checkpoints_the_current_step_and_restores_the_handler(self):
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    self.addCleanup(signal.signal, signal.SIGTERM, previous)
    ours = signal.getsignal(signal.SIGTERM)
    savedir = tmpdir(self)
    # Neither step 2 nor its validation is followed by a regular checkpoint (save_freq=4).
    trainer = make_trainer(savedir, num_steps=6, save_freq=4, eval_freq=2, validation=True)
    validated = []

    def validate():
      # The preemption notice arrives during the validation at step 2.
      step = int(trainer.step.numpy())
      validated.append(step)
      if step == 2:
        os.kill(os.getpid(), signal.SIGTERM)
      return trainer_lib.ValidationReport({'embedded': 0.5})

    trainer.validate = validate
    summary = trainer.run()
    self.assertEqual(received, [])  # the Trainer's handler took the signal ...
    self.assertIs(signal.getsignal(signal.SIGTERM), ours)  # ... and gave it back
    self.assertEqual(summary['stopped'], 'received SIGTERM')
    self.assertEqual(summary['step'], 2)
    self.assertEqual(validated, [2])  # the validation in progress finished first
    self.assertEqual(os.path.basename(summary['checkpoint']), 'ckpt-2')
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(savedir, 'checkpoints')),
                     summary['checkpoint'])
    self.assertEqual(json.load(open(os.path.join(savedir, 'best', 'best.json')))['step'], 2)
    stopped = state(trainer)
    resumed = make_trainer(savedir, num_steps=6, save_freq=4, eval_freq=2)
    self.assertEqual(resumed.restore(), 2)
    self.assertStatesEqual(stopped, state(resumed))
    # A signal after the run returned is the previous handler's again.
    os.kill(os.getpid(), signal.SIGTERM)
    self.assertEqual(received, [signal.SIGTERM])

  def test_a_run_killed_while_validating_resumes_before_that_step(self):
    # Validation comes before the checkpoint of its step: a run killed while validating step
    # 2 resumes from step 1 and validates step 2 again, as an uninterrupted run does (if
    # ckpt-2 existed, the resumed run would never validate step 2).
    savedir = tmpdir(self)
    trainer = make_trainer(savedir, num_steps=2, save_freq=1, eval_freq=2, validation=True)

    def validate():
      raise KeyboardInterrupt('killed while validating')

    trainer.validate = validate
    with self.assertRaisesRegex(KeyboardInterrupt, 'killed while validating'):
      trainer.run()
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(
        os.path.join(savedir, 'checkpoints'))), 'ckpt-1')

  @parameterized.named_parameters(('id', 'id', 2), ('ood', 'ood', 4), ('mean', 'mean', 4))
  def test_best_checkpoint_rule(self, rule, best_step):
    savedir = tmpdir(self)
    trainer = make_trainer(savedir, num_steps=6, best_rule=rule, validation=True)
    trainer.restore()
    script = {2: {'embedded': 0.6, 'embedded_ood': 0.2},
              4: {'embedded': 0.5, 'embedded_ood': 0.9},
              6: {'embedded': 0.1, 'embedded_ood': 0.1}}

    def validate():
      accs = script[int(trainer.step.numpy())]
      return trainer_lib.ValidationReport(dict(accs))

    trainer.validate = validate
    writer = tf.summary.create_noop_writer()
    for step in (2, 4, 6):
      trainer.step.assign(step)
      trainer.manager.save(checkpoint_number=step)
      trainer._validate_and_keep_best(step, writer)
    best = json.load(open(os.path.join(savedir, 'best', 'best.json')))
    self.assertEqual(best['step'], best_step)
    self.assertEqual(best['rule'], rule)
    self.assertEqual(best['accuracy'], script[best_step])
    self.assertEqual(trainer._read_best(), best)
    self.assertEqual(os.path.basename(run_dir.checkpoint_path(savedir, 'best')),
                     f'best-{best_step}')
    self.assertEqual(os.path.basename(run_dir.checkpoint_path(savedir, 'latest')), 'ckpt-6')
    reader = tf.train.load_checkpoint(run_dir.checkpoint_path(savedir, 'best'))
    self.assertEqual(reader.get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE'), best_step)

  def test_ood_rule_needs_ood_sets(self):
    with self.assertRaisesRegex(ValueError, "best_rule='ood'.*ood_dataset"):
      make_trainer(tmpdir(self), best_rule='ood', validation=True,
                   data=tiny_data(ood_datasets=()))

  def test_config_json_and_summaries(self):
    savedir = tmpdir(self)
    model, data = tiny_model(), tiny_data()
    trainer = make_trainer(savedir, num_steps=2, eval_freq=2, validation=True, model=model,
                           data=data)
    trainer.run()
    saved = run_dir.load_run_config(savedir)
    self.assertEqual(saved, json.loads(json.dumps(trainer.run_config)))
    self.assertEqual(config_lib.ModelConfig(**saved['model']), model)
    self.assertEqual(experiment.DataConfig(**saved['data']), data)
    self.assertEqual(execution_config.ExecutionConfig(**saved['execution']), trainer.execution)
    self.assertEqual(saved['train']['num_steps'], 2)
    # Written atomically: no temporary file left next to it.
    self.assertEqual([f for f in os.listdir(savedir) if f.startswith('.')], [])

    train = _scalars(os.path.join(savedir, 'logs', 'train'))
    for tag in ('loss', 'cross_entropy', 'kl', 'accuracy', 'steps_per_sec'):
      self.assertIn(tag, train)
      self.assertEqual(sorted(train[tag]), [1, 2])
      self.assertTrue(all(np.isfinite(v) for v in train[tag].values()), tag)
    val = _scalars(os.path.join(savedir, 'logs', 'validation'))
    for tag in ('embedded/accuracy', 'embedded_ood/accuracy', 'embedded/nll',
                'embedded_ood/ece'):
      self.assertIn(tag, val)
    histograms = _histograms(os.path.join(savedir, 'logs', 'validation'))
    self.assertContainsSubset({'omega', 'exp_gamma', 'z'}, histograms)
    best = json.load(open(os.path.join(savedir, 'best', 'best.json')))
    self.assertEqual(best['step'], 2)
    self.assertEqual(set(best['accuracy']), {'embedded', 'embedded_ood'})


def _events(folder):
  files = [os.path.join(folder, f) for f in os.listdir(folder) if 'tfevents' in f]
  assert files, f'no event file in {folder}'
  for path in files:
    yield from tf.compat.v1.train.summary_iterator(path)  # public; TF2 has no other reader


def _scalars(folder):
  out = {}
  for event in _events(folder):
    for v in event.summary.value:
      if v.metadata.plugin_data.plugin_name == 'scalars':
        out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
  return out


def _histograms(folder):
  return {v.tag for event in _events(folder) for v in event.summary.value
          if v.metadata.plugin_data.plugin_name == 'histograms'}


class TrainConfigTest(tf.test.TestCase):

  def test_train_config_validation(self):
    with self.assertRaisesRegex(ValueError, 'num_steps must be >= 1.*best_rule'):
      trainer_lib.TrainConfig('x', num_steps=0, best_rule='best')
    with self.assertRaisesRegex(ValueError, 'savedir must be set'):
      trainer_lib.TrainConfig('')


class CheckpointCompatibilityTest(tf.test.TestCase):
  """Checkpoints and config.json of runs written before MetaUpdate and ExecutionConfig existed
  (tests/testdata, written by tests/testdata/make_checkpoint_keys.py on main at eef3f86)."""

  def test_checkpoint_has_the_keys_and_shapes_of_earlier_runs(self):
    # Same keys both ways: today's Trainer restores the long runs written before, and they
    # (with the code that wrote them) restore today's checkpoints.
    with open(os.path.join(TESTDATA, 'checkpoint_keys.json')) as f:
      expected = json.load(f)
    for variant, keys in expected.items():
      with self.subTest(variant):
        savedir = tmpdir(self)
        make_trainer(savedir, num_steps=1, save_freq=1, model=tiny_model(variant)).run()
        path = tf.train.latest_checkpoint(os.path.join(savedir, 'checkpoints'))
        got = {name: list(shape) for name, shape in tf.train.list_variables(path)}
        self.assertEqual(sorted(got), sorted(keys))
        self.assertEqual(got, keys)

  def copied_run(self):
    savedir = os.path.join(tmpdir(self), 'run')
    shutil.copytree(os.path.join(TESTDATA, 'main_run'), savedir)
    return savedir

  def test_an_earlier_run_resumes_with_other_execution_settings(self):
    savedir = self.copied_run()
    with open(os.path.join(savedir, 'config.json')) as f:
      old = json.load(f)
    # The layout of that version: execution settings inside the model, data and train sections.
    self.assertIn('jit_compile', old['model'])
    self.assertIn('pad_to', old['data'])
    self.assertIn('steps_per_call', old['train'])
    self.assertNotIn('execution', old)
    reader = tf.train.load_checkpoint(os.path.join(savedir, 'checkpoints', 'ckpt-1'))
    model = tiny_model('metasgd')
    for execution in (execution_config.ExecutionConfig(jit_compile=True, steps_per_call=3),
                      execution_config.ExecutionConfig(sequential_tasks=True, pad_to='bucket'),
                      execution_config.ExecutionConfig(static_shapes=True)):
      with self.subTest(str(execution)):
        trainer = make_trainer(savedir, num_steps=2, save_freq=1, model=model,
                               execution=execution)
        self.assertEqual(trainer.restore(), 1)
        self.assertEqual(int(trainer.optimizer.iterations.numpy()), 1)
        for name, variable in trainer.learner.alpha.items():
          key = f'learner/alpha/{name.replace("/", ".S")}/.ATTRIBUTES/VARIABLE_VALUE'
          self.assertAllEqual(variable.numpy(), reader.get_tensor(key), msg=name)
        slots = [v for v in trainer.optimizer.variables if 'iteration' not in v.path
                 and 'learning_rate' not in v.path]
        self.assertGreater(max(float(np.abs(v.numpy()).max()) for v in slots), 0.0)
        # config.json is rewritten in today's layout.
        saved = run_dir.load_run_config(savedir)
        with open(os.path.join(savedir, 'config.json')) as f:
          self.assertEqual(json.load(f), json.loads(json.dumps(trainer.run_config)))
        self.assertNotIn('jit_compile', saved['model'])
        self.assertEqual(execution_config.ExecutionConfig(**saved['execution']), execution)
    # The model still may not change.
    with self.assertRaisesRegex(run_dir.IncompatibleRunError, 'model.channels'):
      make_trainer(savedir, num_steps=2, model=tiny_model('metasgd', channels=8)).restore()
    # And the resumed run trains on from its checkpoint.
    trainer = make_trainer(savedir, num_steps=2, save_freq=1, model=model)
    self.assertEqual(trainer.run()['step'], 2)
    self.assertEqual(int(trainer.optimizer.iterations.numpy()), 2)

  def test_an_earlier_run_evaluates(self):
    savedir = self.copied_run()
    run = run_dir.load_run_config(savedir)
    self.assertEqual(run['execution'], dict(jit_compile=False, sequential_tasks=False,
                                            static_shapes=False, pad_to='max',
                                            steps_per_call=1, precision='float32',
                                            recompute=False))
    model = config_lib.ModelConfig.from_dict(run['model'])
    self.assertEqual(model, tiny_model('metasgd'))
    self.assertEqual(experiment.DataConfig(**run['data']), tiny_data())
    self.assertEqual(trainer_lib.TrainConfig(**run['train']).meta_batch, 2)
    learner = run_dir.restore_learner(model, run_dir.checkpoint_path(savedir))
    reader = tf.train.load_checkpoint(run_dir.checkpoint_path(savedir))
    kernel = 'learner/alpha/head.Skernel/.ATTRIBUTES/VARIABLE_VALUE'
    self.assertAllEqual(learner.alpha['head/kernel'].numpy(), reader.get_tensor(kernel))


class ExecutionConfigTest(tf.test.TestCase):

  def test_padding_is_decided_once(self):
    self.assertEqual(execution_config.ExecutionConfig().pad_to, 'bucket')
    xla = execution_config.ExecutionConfig(jit_compile=True)
    self.assertTrue(xla.static_shapes)
    self.assertEqual(xla.pad_to, 'max')
    self.assertEqual(execution_config.ExecutionConfig(static_shapes=True).pad_to, 'max')
    # XLA's MaxPoolGradGrad is approximate: static shapes (XLA, TPUs) pool element-wise.
    self.assertEqual(xla.pooling, 'elementwise')
    self.assertEqual(execution_config.ExecutionConfig().pooling, 'kernel')
    self.assertEqual(execution_config.ExecutionConfig(pad_to='max').static_shapes, False)
    with self.assertRaisesRegex(ValueError, "pad_to='bucket' contradicts static shapes"):
      execution_config.ExecutionConfig(static_shapes=True, pad_to='bucket')
    with self.assertRaisesRegex(ValueError, 'pad_to must be one of.*steps_per_call must be.*'
                                'precision must be one of'):
      execution_config.ExecutionConfig(pad_to='half', steps_per_call=0, precision='float16')

  def test_upgrade_moves_the_execution_settings(self):
    old = {'model': {'channels': 4, 'jit_compile': True, 'sequential_tasks': True},
           'data': {'way': 3, 'pad_to': 'max'}, 'train': {'seed': 1, 'steps_per_call': 5}}
    new = execution_config.upgrade_run_config(old)
    self.assertEqual(new, {'model': {'channels': 4}, 'data': {'way': 3},
                           'train': {'seed': 1},
                           'execution': dict(jit_compile=True, sequential_tasks=True,
                                             static_shapes=True, pad_to='max',
                                             steps_per_call=5, precision='float32',
                                             recompute=False)})
    self.assertIn('jit_compile', old['model'])  # the argument is left as it was
    self.assertEqual(execution_config.upgrade_run_config(new), new)
    with self.assertRaisesRegex(ValueError, 'unknown ModelConfig fields'):
      config_lib.ModelConfig.from_dict({'channels': 4, 'jit': True})

SEED = tf.constant([7, 11], tf.int32)


class MetaUpdateTest(tf.test.TestCase):
  """The train step of one replica: tasks in turn, clipping."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    keras.utils.set_random_seed(1)
    cls.second = MetaLearner(config_lib.variant(
        'bayesian_taml', channels=4, num_blocks=2, image_shape=(14, 14, 1), max_way=3,
        max_shot=5, train_inner_steps=2, test_inner_steps=2, n_mc_samples=3))
    rng = np.random.default_rng(4)
    cls.batch = tasks.batch_of(
        tasks.omniglot_task(rng, [2, 1, 3], queries=2, image_size=14, support_size=6),
        tasks.omniglot_task(rng, [1, 2, 2], queries=2, image_size=14, support_size=6))

  def test_tasks_in_turn_give_the_same_update(self):
    self.assertFalse(execution_config.ExecutionConfig().sequential_tasks)  # the default
    seq = meta_update.MetaUpdate(self.second, sequential_tasks=True)
    # The reference: the gradient of the meta-batch's objective (eq. 8) by one tape over all
    # tasks, which the per-task traced function must equal up to float rounding.
    g_ref, m_ref = self.second.batch_gradients(self.batch, SEED)
    together = meta_update.MetaUpdate(self.second)
    for run in (self.second.compute_gradients, together.compiled_gradients,
                seq.compute_gradients, seq.compiled_gradients,
                lambda b, s: self.second.compute_gradients(b, s, sequential=True)):
      g_seq, m_seq = run(self.batch, SEED)
      self.assertLen(g_seq, len(g_ref))
      for k in m_ref:
        self.assertAllClose(m_seq[k], m_ref[k], atol=1e-6, msg=k)
      # atol 5e-6: the conv biases before batch norm have a true gradient of 0, so theirs is
      # rounding noise of about 1e-6 that follows the CPU's summation order (1.0e-6 apart on
      # an AMD EPYC, 2026-11-27); an update that mixes tasks wrongly is off by far more.
      for v, a, b in zip(self.second.meta_variables, g_seq, g_ref):
        self.assertAllClose(a, b, atol=5e-6, rtol=1e-5, msg=v.path)
    # Each task's gradient is traced once and called per task, not traced into the step once
    # per task (what keeps the step's graph and memory at one task's size): one trace served
    # both tasks of all five runs above, eager and in graphs.
    self.assertEqual(
        self.second._task_gradient_fns[('sample', False)].experimental_get_tracing_count(), 1)
    # The two tasks' seeds are still their own: a one-task batch gives task 0's gradient.
    single = episodes.Episode(*[x[:1] for x in self.batch])
    self.assertNotAllClose(tasks.flat_gradients(seq.compute_gradients(single, SEED)[0]),
                           tasks.flat_gradients(g_ref))

  def test_train_step_reports_the_fraction_of_clipped_gradient_entries(self):
    grads = tasks.flat_gradients(self.second.compute_gradients(self.batch, SEED)[0])
    # A clip between the gradient's small and large entries binds for some of them only.
    clip = float(np.quantile(np.abs(grads), 0.75))
    expected = float(np.mean(np.abs(grads) > clip))
    self.assertBetween(expected, 0.2, 0.3)
    learner = MetaLearner(self.second.config.replace(grad_clip=clip))
    for a, b in zip(learner.meta_variables, self.second.meta_variables):
      a.assign(b)
    metrics = meta_update.MetaUpdate(learner).train_step(self.batch, SEED)
    self.assertAllClose(metrics['clip_fraction'], expected, atol=2e-3)

  # The XLA train step: tests/execution/distribute_test.py (test_replica_step_compiles_with_xla_on_cpu).


class MetaUpdateBadInputTest(tf.test.TestCase):
  """A malformed meta-batch is refused before any variable or optimizer step changes."""


  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.learner = MetaLearner(config_lib.variant(
        'bayesian_taml', channels=8, train_inner_steps=1, test_inner_steps=2, max_way=5,
        max_shot=5, n_mc_samples=3))
    cls.update = meta_update.MetaUpdate(cls.learner)
    cls.step = staticmethod(tf.function(cls.update.train_step))
    cls.good = tasks.omniglot_task(np.random.default_rng(7), [1, 2, 2], queries=2, max_way=5,
                                   support_size=10, query_size=6)

  def assert_rejected(self, episode, pattern, errors=(ValueError, tf.errors.InvalidArgumentError),
                      batched=True):
    before = [v.numpy().copy() for v in self.learner.meta_variables]
    batch = tasks.batch_of(episode) if batched else episodes.to_tensors(episode)
    for run in (self.update.train_step, self.step):
      with self.assertRaisesRegex(errors, pattern):
        run(batch, SEED)
    for b, v in zip(before, self.learner.meta_variables):
      self.assertAllEqual(b, v.numpy())
    self.assertEqual(int(self.update.optimizer.iterations), 0)

  def test_labels_out_of_range(self):
    labels = self.good.support_labels.copy()
    labels[0] = 3  # the task has 3 classes
    self.assert_rejected(self.good._replace(support_labels=labels), 'support_labels out of range')
    q = self.good.query_labels.copy()
    q[1] = -1
    self.assert_rejected(self.good._replace(query_labels=q), 'query_labels out of range')

  def test_class_without_support_example(self):
    labels = self.good.support_labels.copy()
    labels[labels == 0] = 1
    self.assert_rejected(self.good._replace(support_labels=labels), 'no support example')

  def test_nan_or_infinite_pixels(self):
    images = self.good.support_images.copy()
    images[2, 5, 5, 0] = np.nan
    self.assert_rejected(self.good._replace(support_images=images), 'NaN or infinite')
    images = self.good.query_images.copy()
    images[0, 1, 1, 0] = np.inf
    self.assert_rejected(self.good._replace(query_images=images), 'NaN or infinite')

  def test_wrong_rank_dtype_and_size(self):
    self.assert_rejected(self.good, 'rank 5', batched=False)
    with self.assertRaisesRegex(ValueError, 'must have dtype float32'):
      self.update.train_step(tasks.batch_of(self.good)._replace(
          support_images=tf.zeros([1, 10, 28, 28, 1], tf.float64)), SEED)
    with self.assertRaisesRegex(ValueError, r'model expects \(28, 28, 1\)'):
      self.update.train_step(tasks.batch_of(self.good)._replace(
          query_images=tf.zeros([1, 6, 32, 32, 1])), SEED)

  def test_more_classes_than_the_model_allows(self):
    ep = tasks.omniglot_task(np.random.default_rng(8), [1] * 6, queries=1)
    self.assert_rejected(ep, 'at most max_way=5')


if __name__ == '__main__':
  tf.test.main()
