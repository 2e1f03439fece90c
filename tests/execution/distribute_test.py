"""Distribution: one global meta-batch gives the same loss, clipped gradient and update under
the default strategy and a 2-replica MirroredStrategy on two logical CPUs; the Trainer under
MirroredStrategy (and its resumed stream); XLA compilation of the replica step on the CPU;
make_strategy's errors; TPU tests that skip without a TPU."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from taml_tf.execution import distribute
from taml_tf.execution import execution_config

try:  # Before TensorFlow initialises its devices (tests/conftest.py does the same).
  distribute.split_cpu(2)
except RuntimeError:
  pass

from tests import helpers as tt  # pylint: disable=g-import-not-at-top

B = 4
SEED = tf.constant([7, 1], tf.int32)


def global_batch(data):
  fn = tt.dataset_fn(data, 3, B)
  return next(iter(fn(0, None)))


def one_step(trainer, batch):
  """One meta-update on `batch` (the GLOBAL meta-batch) under the trainer's strategy; returns
  the loss (mean over the global batch)."""
  strategy = trainer.strategy
  if strategy.num_replicas_in_sync == 1:
    values = batch
  else:
    values = tt.replica_shares(strategy, batch)

  @tf.function
  def step(values):
    metrics = strategy.run(trainer.replica_step, args=(values, SEED))
    return strategy.reduce(tf.distribute.ReduceOp.MEAN, metrics['loss'], axis=None)

  return float(step(values))


class DistributeTest(tf.test.TestCase, parameterized.TestCase):

  def test_two_logical_cpus(self):
    self.assertLen(tf.config.list_logical_devices('CPU'), 2)
    distribute.split_cpu(2)  # a no-op once split
    with self.assertRaisesRegex(RuntimeError, '.'):
      distribute.split_cpu(3)  # too late: TensorFlow is initialised

  def test_global_batch_same_under_default_and_mirrored(self):
    clip = 1e-3  # small enough to bite: clipping must follow the all-reduce
    model = tt.tiny_model(grad_clip=clip)
    data = tt.tiny_data()
    batch = global_batch(data)
    default = tt.make_trainer(tt.tmpdir(self), model=model, data=data, meta_batch=B)
    replicated = tt.make_trainer(tt.tmpdir(self), model=model, data=data, meta_batch=B,
                                 strategy=tt.mirrored())
    before = tt.state(default)
    self.assertEqual(sorted(before), sorted(tt.state(replicated)))
    for k, v in tt.state(replicated).items():
      self.assertAllEqual(before[k], v, msg=k)  # same seed, same initial parameters

    # The expected update: the gradient of the mean loss over the whole batch, clipped.
    grads, metrics = default.learner.compute_gradients(batch, SEED)
    clipped = [np.clip(g.numpy(), -clip, clip) for g in grads]

    loss_default = one_step(default, batch)
    loss_mirrored = one_step(replicated, batch)
    self.assertAllClose(loss_default, float(metrics['loss']), rtol=1e-5)
    self.assertAllClose(loss_mirrored, loss_default, rtol=1e-5)
    a, b = tt.state(default), tt.state(replicated)
    self.assertEqual(a['iterations'], 1)
    self.assertEqual(b['iterations'], 1)
    for k in a:
      self.assertAllClose(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    # Adam's first moment after one step is (1 - beta_1) * the applied gradient: the
    # all-reduced clipped gradient is the single device's clipped gradient.
    beta_1 = default.optimizer.beta_1
    for name, opt in (('default', default), ('mirrored', replicated)):
      momenta = opt.optimizer._momentums
      self.assertLen(momenta, len(clipped))
      for g, m in zip(clipped, momenta):
        self.assertAllClose(g, np.asarray(m.numpy()) / (1 - beta_1), rtol=1e-4, atol=1e-6,
                            msg=name)
    if clip < 1:
      self.assertTrue(any(np.any(np.abs(g) >= clip) for g in clipped))  # clipping bit

  def test_authors_training_same_under_default_and_mirrored(self):
    # Both switches of the authors' training: the BN-first-order gradient and their padding to
    # the GLOBAL meta-batch's longest support set, which a replica must take from the others
    # when its own tasks are shorter.
    model = tt.tiny_model(bn_second_order=False, authors_padding=True)
    data = tt.tiny_data()
    batch = global_batch(data)
    # The second replica's tasks keep one shot per class: shorter than the first replica's.
    mask, labels = batch.support_mask.numpy(), batch.support_labels.numpy()
    for t in (2, 3):
      first = np.zeros_like(mask[t])
      first[np.unique(labels[t] * mask[t] + (mask[t] == 0) * -1, return_index=True)[1]] = 1
      mask[t] *= first
    batch = batch._replace(support_mask=tf.constant(mask),
                           support_images=batch.support_images * mask[..., None, None, None])
    halves = [float(tf.reduce_max(tf.reduce_sum(batch.support_mask[i:i + 2], 1)))
              for i in (0, 2)]
    self.assertGreater(halves[0], halves[1], 'the test needs replicas of unequal tasks')
    default = tt.make_trainer(tt.tmpdir(self), model=model, data=data, meta_batch=B)
    replicated = tt.make_trainer(tt.tmpdir(self), model=model, data=data, meta_batch=B,
                                 strategy=tt.mirrored())
    _, metrics = default.learner.compute_gradients(batch, SEED)
    # Padding each replica to its own longest task would give another loss.
    own = np.mean([float(default.learner.batch_loss(
        type(batch)(*[x[i:i + 2] for x in batch]), SEED, task_offset=i)[0]) for i in (0, 2)])
    self.assertGreater(abs(own - float(metrics['loss'])), 1e-4)
    loss_default = one_step(default, batch)
    loss_mirrored = one_step(replicated, batch)
    self.assertAllClose(loss_default, float(metrics['loss']), rtol=1e-5)
    self.assertAllClose(loss_mirrored, loss_default, rtol=1e-5)
    a, b = tt.state(default), tt.state(replicated)
    for k in a:
      self.assertAllClose(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)

  def test_trainer_under_mirrored_equals_default_and_resumes(self):
    model, data = tt.tiny_model('metasgd'), tt.tiny_data()
    default = tt.make_trainer(tt.tmpdir(self), num_steps=2, model=model, data=data,
                              meta_batch=B)
    default.run()
    savedir = tt.tmpdir(self)
    first = tt.make_trainer(savedir, num_steps=1, save_freq=1, model=model, data=data,
                            meta_batch=B, strategy=tt.mirrored(),
                            execution=execution_config.ExecutionConfig(pad_to='max', steps_per_call=2))
    self.assertEqual(first.run()['step'], 1)
    # The resumed stream continues where a 2-replica run stopped: replica r of step s gets
    # the episodes [s*B + r*B/2, s*B + (r+1)*B/2) of the one input pipeline.
    resumed = tt.make_trainer(savedir, num_steps=2, save_freq=1, model=model, data=data,
                              meta_batch=B, strategy=tt.mirrored())
    self.assertEqual(resumed.run()['step'], 2)
    a, b = tt.state(default), tt.state(resumed)
    self.assertEqual(b['iterations'], 2)
    # Adam divides by sqrt(v): on batch-norm offsets whose gradients are ~1e-9, float noise
    # of the two reduction orders moves them by up to ~2e-4 after two steps. That is 10x less
    # than one Adam step (meta_lr=1e-2), which a wrong episode stream would show everywhere;
    # every other variable agrees to ~1e-8.
    diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
    self.assertLess(max(diffs.values()), 1e-3, diffs)
    tight = [k for k, d in diffs.items() if d < 1e-6]
    self.assertGreaterEqual(len(tight), len(diffs) - 3, diffs)

  def test_replica_step_compiles_with_xla_on_cpu(self):
    model = tt.tiny_model()
    data = tt.tiny_data()
    batch = global_batch(data)
    xla = tt.make_trainer(tt.tmpdir(self), model=model, data=data, meta_batch=B,
                          execution=execution_config.ExecutionConfig(jit_compile=True))
    learner = xla.learner
    self.assertEqual(learner.backbone.pooling, 'elementwise')  # exact second order under XLA
    checked = learner.validate(batch, batched=True)
    hlo = xla.update.compiled_gradients.experimental_get_compiler_ir(
        checked, SEED, task_offset=0, support_rows=None)(stage='hlo')
    self.assertIn('HloModule', hlo)
    compiled, compiled_metrics = xla.update.compiled_gradients(checked, SEED, task_offset=0)
    plain, plain_metrics = learner.compute_gradients(checked, SEED)
    self.assertAllClose(compiled_metrics['loss'], plain_metrics['loss'], rtol=1e-4)
    for g, h in zip(compiled, plain):
      self.assertAllClose(g, h, rtol=1e-3, atol=1e-5)
    # The whole replica step (validation, XLA gradient, clip, Adam) runs.
    self.assertTrue(np.isfinite(one_step(xla, batch)))
    self.assertEqual(tt.state(xla)['iterations'], 1)

  def test_make_strategy(self):
    self.assertIs(distribute.make_strategy('default'), tf.distribute.get_strategy())
    self.assertEqual(distribute.make_strategy('mirrored').num_replicas_in_sync, 2)
    with self.assertRaisesRegex(ValueError, "unknown strategy 'horovod'.*tpu"):
      distribute.make_strategy('horovod')
    with self.assertRaisesRegex(ValueError, "--tpu='x'.*--strategy=tpu.*'mirrored'"):
      distribute.make_strategy('mirrored', tpu='x')

  def test_collective_timeout_only_for_multi_worker(self):
    with self.assertRaisesRegex(ValueError, "--collective_timeout=5.*multi_worker.*'default'"):
      distribute.make_strategy('default', collective_timeout=5)
    with self.assertRaisesRegex(ValueError, '--collective_timeout must be >= 0 seconds, got -1'):
      distribute.make_strategy('multi_worker', collective_timeout=-1)

  def test_one_process_is_worker_0_of_1_and_names_the_lost_peer(self):
    strategy = tf.distribute.get_strategy()
    self.assertEqual(distribute.worker_index(strategy), (0, 1))
    self.assertEqual(distribute.worker_name(strategy, 0), 'this process')
    # What a collective raised when worker 1 of a cluster was killed (tests/launch/
    # multi_worker_test.py runs the cluster).
    message = ('Graph execution error:\n\nCollective ops is aborted by: Socket closed\n'
               'Additional GRPC error information from remote target '
               '/job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf')
    self.assertEqual(distribute.lost_peer(strategy, message), '/job:worker/replica:0/task:1')
    self.assertIsNone(distribute.lost_peer(strategy, 'Collective has timed out'))
    # In the cluster an error may name this worker too: the lost one is the other.
    both = ('/job:worker/replica:0/task:0 aborted: from remote target '
            '/job:worker/replica:0/task:1')
    self.assertEqual(distribute.peer_in_message(both, ('worker', 0)),
                     '/job:worker/replica:0/task:1')
    self.assertEqual(distribute.peer_in_message(both, ('worker', 1)),
                     '/job:worker/replica:0/task:0')
    self.assertIsNone(distribute.peer_in_message('/job:worker/replica:0/task:1', ('worker', 1)))

  def test_meta_batch_must_split_across_replicas(self):
    with self.assertRaisesRegex(ValueError, 'meta_batch=3 is not divisible by the 2 replicas'):
      tt.make_trainer(tt.tmpdir(self), meta_batch=3, strategy=tt.mirrored())


class TPUTest(tf.test.TestCase):
  """Run only where a TPU is attached (e.g. a TPU VM: --tpu=local)."""

  def setUp(self):
    super().setUp()
    if not tf.config.list_logical_devices('TPU'):
      self.skipTest('no TPU')

  def test_tpu_strategy_trains_two_steps(self):
    strategy = distribute.make_strategy('tpu', 'local')
    self.assertGreaterEqual(strategy.num_replicas_in_sync, 1)
    meta_batch = 2 * strategy.num_replicas_in_sync
    trainer = tt.make_trainer(tt.tmpdir(self), num_steps=2, meta_batch=meta_batch,
                              model=tt.tiny_model(), strategy=strategy,
                              execution=execution_config.ExecutionConfig(jit_compile=True,
                                                                   steps_per_call=2))
    self.assertEqual(trainer.run()['step'], 2)
    self.assertTrue(all(np.all(np.isfinite(v)) for v in tt.state(trainer).values()))


if __name__ == '__main__':
  tf.test.main()
