"""Writes the fixtures of checkpoint compatibility under tests/testdata.

checkpoint_keys.json: the keys and shapes of the checkpoint a tiny training run writes.
main_run/: a whole tiny Meta-SGD run folder (config.json and its step-1 checkpoint, without
the logs), for restoring a run written by that code.

Run once with the code whose checkpoints must stay readable (it was run on main at eef3f86,
before the optimizer moved from MetaLearner to the Trainer):

  TAML_DATA_DIR=../shared/data python -m tests.testdata.make_checkpoint_keys

tests/execution/trainer_test.py checks that a checkpoint written by today's Trainer has exactly these
keys and shapes, so that runs started by the old code resume, and the other way round, and
that today's Trainer resumes main_run (whose config.json has the execution settings in
'model' and 'data', as they were then).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from tests import helpers

VARIANTS = ('bayesian_taml', 'maml')
PATH = os.path.join(os.path.dirname(__file__), 'checkpoint_keys.json')
RUN = os.path.join(os.path.dirname(__file__), 'main_run')


def checkpoint_keys(variant: str) -> dict:
  """{key: shape} of the checkpoint a one-step tiny run of `variant` writes."""
  with tempfile.TemporaryDirectory() as savedir:
    trainer = helpers.make_trainer(savedir, num_steps=1, save_freq=1,
                                         model=helpers.tiny_model(variant))
    trainer.run()
    path = tf.train.latest_checkpoint(os.path.join(savedir, 'checkpoints'))
    return {name: list(shape) for name, shape in tf.train.list_variables(path)}


def write_run(variant: str = 'metasgd') -> None:
  """Writes RUN: a one-step tiny run of `variant` (small enough to keep in the repository)."""
  shutil.rmtree(RUN, ignore_errors=True)
  with tempfile.TemporaryDirectory() as savedir:
    helpers.make_trainer(savedir, num_steps=1, save_freq=1,
                               model=helpers.tiny_model(variant)).run()
    os.makedirs(os.path.join(RUN, 'checkpoints'))
    shutil.copy(os.path.join(savedir, 'config.json'), RUN)
    for name in os.listdir(os.path.join(savedir, 'checkpoints')):
      if name.startswith('ckpt-1.'):
        shutil.copy(os.path.join(savedir, 'checkpoints', name), os.path.join(RUN, 'checkpoints'))
  # The manager's state file holds absolute paths; a relative one works wherever RUN is copied.
  with open(os.path.join(RUN, 'checkpoints', 'checkpoint'), 'w') as f:
    f.write('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')


def main():
  write_run()
  keys = {v: checkpoint_keys(v) for v in VARIANTS}
  # One key per line, sorted, so that a diff of the fixture reads as a list of keys.
  lines = []
  for variant in VARIANTS:
    items = [f'    {json.dumps(k)}: {json.dumps(s)}' for k, s in sorted(keys[variant].items())]
    lines.append(f'  {json.dumps(variant)}: {{\n' + ',\n'.join(items) + '\n  }')
  with open(PATH, 'w') as f:
    f.write('{\n' + ',\n'.join(lines) + '\n}\n')


if __name__ == '__main__':
  main()
