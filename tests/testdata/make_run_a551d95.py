"""Writes tests/testdata/run_a551d95: a tiny Bayesian TAML run folder written by the code of
main before the package was split into layer folders (a551d95, the code that trains the
authors'-training study runs; tests/execution/run_folder_compat_test.py reads it).

Run from a checkout of that commit, with its installed venv (its module paths are the flat
ones, e.g. tests/training_test.py, which no longer exist):

  cd <checkout at a551d95> && TAML_DATA_DIR=../shared/data python <this file> <repo>/tests/testdata
"""

import os
import shutil
import sys
import tempfile

from tests import training_test  # pylint: disable=import-error  (the old layout)


def main(out_dir):
  run = os.path.join(out_dir, 'run_a551d95')
  shutil.rmtree(run, ignore_errors=True)
  with tempfile.TemporaryDirectory() as savedir:
    trainer = training_test.make_trainer(savedir, num_steps=2, save_freq=2, eval_freq=2,
                                         validation=True, model=training_test.tiny_model())
    trainer.run()
    shutil.copytree(savedir, run, ignore=shutil.ignore_patterns('logs'))
  # The managers' state files hold absolute paths; relative ones work wherever it is copied.
  for folder, prefix in (('checkpoints', 'ckpt-2'), ('best', 'best-2')):
    with open(os.path.join(run, folder, 'checkpoint'), 'w') as f:
      f.write(f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n')


if __name__ == '__main__':
  main(sys.argv[1])
