"""A run folder written by the code before the layer folders (a551d95, which trains the
authors'-training study runs) resumes, evaluates (library and taml-evaluate), loads into a
TamlModel and exports with today's code (tests/testdata/run_a551d95, written by
tests/testdata/make_run_a551d95.py)."""

import json
import os
import shutil

import numpy as np
import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.execution import run_dir
from taml_tf.execution import trainer as trainer_lib
from taml_tf.method import config as config_lib
from taml_tf.products import evaluation
from taml_tf.products import export
from taml_tf.products import keras_model
from tests import helpers

FIXTURE = os.path.join(helpers.TESTDATA, 'run_a551d95')


class RunFolderCompatTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.savedir = os.path.join(helpers.tmpdir(self), 'run')
    shutil.copytree(FIXTURE, self.savedir)
    self.run = run_dir.load_run_config(self.savedir)
    self.model = config_lib.ModelConfig.from_dict(self.run['model'])
    self.data = experiment.DataConfig(**self.run['data'])

  def test_it_resumes_and_trains_on(self):
    train = trainer_lib.TrainConfig(**dict(self.run['train'], savedir=self.savedir,
                                           num_steps=3))
    reader = tf.train.load_checkpoint(os.path.join(self.savedir, 'checkpoints', 'ckpt-2'))
    trainer = trainer_lib.Trainer(
        self.model, train, helpers.dataset_fn(self.data, train.seed, train.meta_batch),
        data_config=self.data.to_dict(), stop_signals=())
    self.assertEqual(trainer.restore(), 2)
    self.assertEqual(int(trainer.optimizer.iterations.numpy()), 2)
    key = 'learner/alpha/head.Sbias/.ATTRIBUTES/VARIABLE_VALUE'
    self.assertAllEqual(trainer.learner.alpha['head/bias'].numpy(), reader.get_tensor(key))
    summary = trainer.run()
    self.assertEqual(summary['step'], 3)
    self.assertTrue(summary['checkpoint'].endswith('ckpt-3'))

  def test_it_evaluates_and_exports(self):
    learner, path = run_dir.restore(self.savedir, 'best')
    self.assertTrue(path.endswith('best-2'))
    sets = experiment.evaluation_sets(self.data, 'test', 2)
    result = evaluation.evaluate(learner, sets)
    self.assertEqual(sorted(result.datasets), ['embedded', 'embedded_ood'])
    for r in result.datasets.values():
      self.assertTrue(np.isfinite(r.nll), r)
    model = keras_model.TamlModel.from_run(self.savedir)
    for a, b in zip(model.learner.meta_variables, learner.meta_variables):
      self.assertAllEqual(a.numpy(), b.numpy())
    exported = export.export_from_checkpoint(self.model, path,
                                             os.path.join(helpers.tmpdir(self), 'served'))
    info = tf.saved_model.load(exported).signatures['model_info']()
    self.assertEqual(int(info['max_way']), self.model.max_way)

  def test_taml_evaluate_reads_it(self):
    proc = helpers.binary('evaluate', f'--savedir={self.savedir}', '--n_test_episodes=2',
                          '--checkpoint=best')
    with open(os.path.join(self.savedir, 'results', 'results.json')) as f:
      results = json.load(f)
    self.assertEqual(sorted(results['datasets']), ['embedded', 'embedded_ood'], proc.stdout)


if __name__ == '__main__':
  tf.test.main()
