"""Tests of taml_tf.products.model_card: the card states the evaluated numbers, the command that
re-measures them, and refuses results the export cannot reproduce."""

import copy
import json
import os
import shlex
import shutil
import tempfile
import unittest

from taml_tf.products import model_card

RUN = {
    'data': {'id_datasets': ['omniglot'], 'ood_datasets': ['mnist'], 'image_shape': [28, 28, 1],
             'way': 5, 'min_way': None, 'max_shot': 15, 'query': 5, 'shot_mode': 'mixed',
             'rotations': False, 'train_split': 'train', 'val_split': 'val',
             'test_split': 'test', 'data_dir': '/machine/data', 'pad_to': 'bucket'},
    'model': {'channels': 32, 'meta_lr': 0.001, 'train_inner_steps': 5, 'test_inner_steps': 10,
              'n_mc_samples': 10, 'omega_on': True, 'gamma_on': True, 'z_on': False,
              'alpha_on': True, 'deterministic': False},
    'train': {'meta_batch': 4, 'seed': 0, 'num_steps': 5000, 'savedir': '/machine/runs/x'},
}
RESULTS = {
    'mode': 'mean', 'num_samples': None, 'num_steps': 10, 'seed': 0,
    'datasets': {'omniglot': {'episodes': 1000, 'accuracy': 0.92351, 'ci95': 0.00512,
                              'nll': 0.25, 'ece': 0.03},
                 'mnist': {'episodes': 1000, 'accuracy': 0.8311, 'ci95': 0.0071, 'nll': 0.5,
                           'ece': 0.04}},
}
SERVING = {'test_inner_steps': 10, 'n_mc_samples': 10, 'image_shape': (28, 28, 1)}


class CheckpointStepTest(unittest.TestCase):

  def test_reads_the_step_of_training_and_best_checkpoints(self):
    self.assertEqual(model_card.checkpoint_step('/r/checkpoints/ckpt-2000'), 2000)
    self.assertEqual(model_card.checkpoint_step('/r/best/best-1000'), 1000)
    with self.assertRaisesRegex(ValueError, 'cannot read a training step'):
      model_card.checkpoint_step('/r/checkpoints/model')


class CheckTest(unittest.TestCase):

  def test_matching_results_pass(self):
    model_card.check(RUN, RESULTS, SERVING)
    mc = dict(RESULTS, mode='mc', num_samples=10)
    model_card.check(RUN, mc, SERVING)

  def test_each_mismatch_is_named(self):
    cases = [
        (dict(RESULTS, num_steps=5), 'the results used 5 inner steps, the export serves 10'),
        (dict(RESULTS, mode='mc', num_samples=3),
         'the results used 3 Monte-Carlo samples, the export serves 10'),
        (dict(RESULTS, mode='median'), "mode is 'median'"),
        (dict(RESULTS, datasets={'omniglot': RESULTS['datasets']['omniglot']}),
         r"lack the data sets \['mnist'\]"),
        (dict(RESULTS, datasets=dict(RESULTS['datasets'], svhn={})),
         r"not tested on: \['svhn'\]"),
        (dict(RESULTS, padded_meta_batch=4), "meta-tested the authors' way, in meta-batches "
         'of 4 .*give the results of taml-evaluate --test_padding=none'),
    ]
    for results, message in cases:
      with self.subTest(message=message), self.assertRaisesRegex(ValueError, message):
        model_card.check(RUN, results, SERVING)
    with self.assertRaisesRegex(ValueError, r'trained on \[28, 28, 1\] images, the export '
                                r'takes \[32, 32, 3\]'):
      model_card.check(RUN, RESULTS, dict(SERVING, image_shape=(32, 32, 3)))
    run = copy.deepcopy(RUN)
    run['data']['test_split'] = 'val'
    with self.assertRaisesRegex(ValueError, "meta-tested on split 'val'"):
      model_card.check(run, RESULTS, SERVING)


class RenderTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    self.card = model_card.render('bayesian_taml', 'pretrained/omniglot_mnist/bayesian_taml',
                                  RUN, 2000, RESULTS, notes=['trained with abc123'])

  def test_states_the_numbers_and_the_budget(self):
    self.assertIn('# bayesian_taml: omniglot -> mnist, 2,000 meta-updates', self.card)
    self.assertIn('| omniglot | in-distribution | 1000 | 92.35 ± 0.51 |', self.card)
    self.assertIn('| mnist | out-of-distribution | 1000 | 83.11 ± 0.71 |', self.card)
    self.assertIn('10 inner steps, the posterior mean, seed 0', self.card)
    # The export's inner steps (those of the results) are stated, not the run's default.
    run = copy.deepcopy(RUN)
    run['model']['test_inner_steps'] = 3
    self.assertIn('adapts the conv4 network with 10 inner steps',
                  model_card.render('m', 'p', run, 1, RESULTS))
    self.assertIn('it infers the balancing variables (omega, gamma), adapts', self.card)
    # A model without balancing variables (Meta-SGD) does not claim to infer any.
    for v in ('omega', 'gamma', 'z'):
      run['model'][f'{v}_on'] = False
    plain = model_card.render('metasgd', 'p', run, 1, RESULTS)
    self.assertIn('query images; it adapts the conv4 network', plain)
    self.assertIn('balancing variables: none;', plain)
    self.assertIn('balancing variables: omega, gamma;', self.card)
    self.assertIn('- trained with abc123', self.card)
    self.assertIn('this export is its step 2,000', self.card)
    # Which training made it: a run of any version without the switches is the exact one.
    self.assertIn('- Meta-gradient and padding: the exact meta-gradient of eq. (8), with '
                  "padding that changes nothing (the default; not the authors' training).",
                  self.card)
    run = copy.deepcopy(RUN)
    run['model'].update(bn_second_order=False, authors_padding=True)
    authors = model_card.render('m', 'p', run, 1, RESULTS)
    self.assertIn("- Meta-gradient and padding: the authors' training gradient "
                  '(`--nobn_second_order`', authors)
    self.assertIn("with the authors' padding (`--authors_padding`", authors)
    run['model']['authors_padding'] = False
    self.assertIn('tf.map_fn), with padding that changes nothing.',
                  model_card.render('m', 'p', run, 1, RESULTS))
    # The machine's paths are not published.
    self.assertNotIn('/machine/', self.card)

  def test_command_re_measures_the_same_episodes(self):
    command = model_card.evaluate_command('pretrained/omniglot_mnist/bayesian_taml', RUN,
                                          RESULTS)
    args = shlex.split(command.replace('\\\n', ' '))
    self.assertEqual(args[0], 'taml-evaluate')
    self.assertEqual(args[1:], [
        '--saved_model=pretrained/omniglot_mnist/bayesian_taml', '--id_dataset=omniglot',
        '--ood_dataset=mnist', '--way=5', '--max_shot=15', '--query=5', '--shot_mode=mixed',
        '--n_test_episodes=1000', '--eval_mode=mean', '--seed=0'])
    self.assertIn(command, self.card)
    # A script reads the same arguments back from the card.
    self.assertEqual(model_card.evaluate_args(self.card), args[1:])
    with self.assertRaisesRegex(ValueError, 'gives no taml-evaluate command'):
      model_card.evaluate_args('# a card without a command')
    run = copy.deepcopy(RUN)
    run['data'].update(min_way=3, rotations=True)
    args = model_card.evaluate_command('p', run, dict(RESULTS, mode='mc', seed=7))
    self.assertIn('--eval_mode=mc', args)
    self.assertIn('--seed=7', args)
    self.assertIn('--min_way=3', args)
    self.assertIn('--rotations', args)

  def test_write_puts_the_card_in_the_export(self):
    folder = tempfile.mkdtemp(prefix='model_card_test_')
    self.addCleanup(shutil.rmtree, folder, True)
    path = model_card.write(folder, self.card, RESULTS)
    self.assertEqual(path, os.path.join(folder, 'MODEL_CARD.md'))
    with open(path) as f:
      self.assertEqual(f.read(), self.card)
    with open(os.path.join(folder, 'results.json')) as f:
      self.assertEqual(json.load(f), RESULTS)
    self.assertEqual(sorted(os.listdir(folder)), ['MODEL_CARD.md', 'results.json'])


if __name__ == '__main__':
  unittest.main()
