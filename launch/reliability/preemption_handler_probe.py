"""What TensorFlow's PreemptionCheckpointHandler does to a Trainer's checkpoint (issue 41).

docs/reliability.md says why the Trainer coordinates a preemption itself (one all-reduced stop
flag per host call) rather than through `tf.distribute.experimental.PreemptionCheckpointHandler`.
This probe measures what the handler does when it is given the Trainer's CheckpointManager on a
run folder written before (tests/testdata/run_a551d95), in one process:
  * the step it restores in its constructor (before the Trainer's own restore);
  * the variable it adds to the checkpoint (`checkpointed_runs`), and whether
    `Trainer.restore()` (assert_existing_objects_matched) still accepts the existing run;
  * the SIGTERM handler left installed, and the keys a checkpoint written afterwards gains.

Usage (from the repository root, an installed checkout): python launch/reliability/preemption_handler_probe.py
"""

import os
import shutil
import signal
import sys
import tempfile

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from taml_tf.data import experiment  # pylint: disable=wrong-import-position
from taml_tf.execution import run_dir  # pylint: disable=wrong-import-position
from taml_tf.execution import trainer as trainer_lib  # pylint: disable=wrong-import-position
from taml_tf.method import config as config_lib  # pylint: disable=wrong-import-position
from tests import helpers  # pylint: disable=wrong-import-position


def main():
  savedir = os.path.join(tempfile.mkdtemp(prefix='pch_probe_'), 'run')
  shutil.copytree(os.path.join(ROOT, 'tests', 'testdata', 'run_a551d95'), savedir)
  run = run_dir.load_run_config(savedir)
  model = config_lib.ModelConfig.from_dict(run['model'])
  data = experiment.DataConfig(**run['data'])
  train = trainer_lib.TrainConfig(**dict(run['train'], savedir=savedir, num_steps=3))
  trainer = trainer_lib.Trainer(model, train,
                                helpers.dataset_fn(data, train.seed, train.meta_batch),
                                data_config=data.to_dict(), stop_signals=())
  before = {k for k, _ in tf.train.list_variables(os.path.join(savedir, 'checkpoints', 'ckpt-2'))}
  tf.distribute.experimental.PreemptionCheckpointHandler(
      None, trainer.manager,
      termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=lambda: None))
  print('step restored by the handler\'s constructor:', int(trainer.step.numpy()))
  try:
    print('Trainer.restore():', trainer.restore())
  except AssertionError as e:
    print('Trainer.restore() of the existing run fails:', str(e).splitlines()[0][:300])
  print('SIGTERM handler left installed:', signal.getsignal(signal.SIGTERM))
  trainer.manager.save(checkpoint_number=3)
  after = {k for k, _ in tf.train.list_variables(os.path.join(savedir, 'checkpoints', 'ckpt-3'))}
  print('keys a checkpoint written afterwards gains:', sorted(after - before))
  shutil.rmtree(os.path.dirname(savedir), ignore_errors=True)


if __name__ == '__main__':
  main()
