"""Tests of taml_tf.products.comparison on hand-made evaluation folders (numbers checked by hand)."""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from taml_tf.products import calibration
from taml_tf.products import comparison
from taml_tf.products import reports


def write_eval(folder, accuracy, shots, mode='mean', datasets=('omniglot', 'mnist'), nll=0.5,
               ece=0.05):
  """A results.json / balancing.npz pair like taml-evaluate's: the same per-episode accuracy
  and shots on every data set."""
  os.makedirs(folder)
  accuracy = np.asarray(accuracy, np.float64)
  mean, ci = calibration.accuracy_interval(accuracy)
  results = dict(mode=mode, num_samples=10 if mode == 'mc' else None, num_steps=10, seed=0,
                 datasets={d: dict(episodes=len(accuracy), accuracy=mean, ci95=ci, nll=nll,
                                   ece=ece, episode_accuracy=accuracy.tolist())
                           for d in datasets})
  with open(os.path.join(folder, 'results.json'), 'w') as f:
    json.dump(results, f)
  np.savez(os.path.join(folder, 'balancing.npz'),
           dataset=np.repeat(np.array(datasets), len(accuracy)),
           shots=np.concatenate([np.asarray(shots)] * len(datasets)),
           accuracy=np.tile(accuracy, len(datasets)))


class ComparisonTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.root = tmp.name
    self.shots = np.array([[1, 2, 3, 4, 5], [5, 5, 5, 5, 5], [1, 1, 1, 1, 1], [9, 1, 2, 3, 4]])
    write_eval(f'{self.root}/maml/results', [0.5, 0.6, 0.7, 0.8], self.shots)
    write_eval(f'{self.root}/bayesian_taml/results', [0.6, 0.6, 0.9, 0.8], self.shots)
    write_eval(f'{self.root}/bayesian_taml/results_mc', [0.7, 0.8], self.shots[:2], mode='mc')
    write_eval(f'{self.root}/metasgd/results', [0.5, 0.7, 0.7, 0.9], self.shots)
    os.makedirs(f'{self.root}/unevaluated')

  def test_order_and_labels(self):
    entries = comparison.find_entries(self.root)
    self.assertEqual([e.label for e in entries],
                     ['maml (mean)', 'metasgd (mean)', 'bayesian_taml (mean)',
                      'bayesian_taml (MC 10)'])

  def test_paired_difference_by_hand(self):
    entries = {e.label: e for e in comparison.find_entries(self.root)}
    taml, maml = entries['bayesian_taml (mean)'], entries['maml (mean)']
    # Differences 0.1, 0, 0.2, 0: mean 0.075, population std sqrt(0.006875).
    diff, ci, n = comparison.paired_difference(taml, maml, 'mnist')
    self.assertAllClose(diff, 0.075)
    self.assertAllClose(ci, 1.96 * np.sqrt(0.006875) / 2.0)
    self.assertEqual(n, 4)
    # The MC run saw the first two episodes only: differences 0.2, 0.2.
    self.assertAllClose(comparison.paired_difference(entries['bayesian_taml (MC 10)'], maml,
                                                     'omniglot'), (0.2, 0.0, 2))

  def test_one_budget_of_a_study(self):
    for step, accs in ((500, [0.2, 0.4, 0.6, 0.8]), (2000, [0.9, 0.9, 0.9, 0.9])):
      write_eval(f'{self.root}/metasgd/results/step_{step}', accs, self.shots)
    write_eval(f'{self.root}/maml/results/step_500', [0.1, 0.1, 0.1, 0.1], self.shots)
    entries = comparison.find_entries(self.root, 'results/step_500')
    self.assertEqual([e.name for e in entries], ['maml', 'metasgd'])
    self.assertAllClose([e.results['datasets']['mnist']['accuracy'] for e in entries],
                        [0.1, 0.5])
    with self.assertRaisesRegex(FileNotFoundError, 'results/step_5000/results.json'):
      comparison.find_entries(self.root, 'results/step_5000')

  def test_final_protocol_pairs_samples_against_a_deterministic_reference(self):
    write_eval(f'{self.root}/metasgd/results/step_10000', [0.5, 0.7, 0.7, 0.9], self.shots)
    write_eval(f'{self.root}/bayesian_taml/results/step_10000', [0.6, 0.6, 0.9, 0.8],
               self.shots)
    write_eval(f'{self.root}/bayesian_taml/results/step_10000_mc', [0.7, 0.8, 0.9, 0.9],
               self.shots, mode='mc')
    write_eval(f'{self.root}/maml/results/step_2000', [0.1, 0.1, 0.1, 0.1], self.shots)
    entries = comparison.find_entries(self.root,
                                      ['results/step_10000', 'results/step_10000_mc'])
    self.assertEqual([e.label for e in entries],
                     ['metasgd (mean)', 'bayesian_taml (mean)', 'bayesian_taml (MC 10)'])
    text = comparison.markdown(entries, ['metasgd'])
    # MC minus Meta-SGD per episode: +0.2, +0.1, +0.2, 0.0.
    diff, ci = calibration.accuracy_interval(np.array([0.2, 0.1, 0.2, 0.0]))
    self.assertIn(f'| bayesian_taml (MC 10) | {100 * diff:+.2f} ± {100 * ci:.2f} (4 ep.)', text)
    self.assertIn('| bayesian_taml (mean) | +2.50', text)

  def test_learning_curves(self):
    for step, accs in ((2000, [0.9, 0.9, 0.9, 0.9]), (500, [0.2, 0.4, 0.6, 0.8])):
      write_eval(f'{self.root}/metasgd/results/step_{step}', accs, self.shots)
    write_eval(f'{self.root}/maml/results/step_500', [0.1, 0.1, 0.1, 0.1], self.shots)
    os.makedirs(f'{self.root}/metasgd/results/step_x')
    curves = comparison.learning_curves(self.root)
    self.assertEqual(list(curves), ['maml', 'metasgd'])
    steps = [p[0] for p in curves['metasgd']['omniglot']]
    self.assertEqual(steps, [500, 2000])
    self.assertAllClose([p[1] for p in curves['metasgd']['mnist']], [0.5, 0.9])
    self.assertEqual(curves['maml']['mnist'][0][:2], (500, 0.1))
    empty = tempfile.mkdtemp(dir=self.root)
    with self.assertRaisesRegex(FileNotFoundError, 'step_<N>'):
      comparison.learning_curves(empty)

  def test_markdown(self):
    text = comparison.markdown(comparison.find_entries(self.root))
    self.assertIn('| model | meta-test | omniglot episodes | omniglot accuracy | omniglot NLL | '
                  'omniglot ECE | mnist episodes |', text)
    # std of (.7, .8) is .05: 1.96 * .05 / sqrt(2) = 6.93 points.
    self.assertIn('| maml | mean | 4 | 65.00 ± ', text)
    self.assertIn('| bayesian_taml | MC 10 | 2 | 75.00 ± 6.93 | 0.500 | 0.050 |', text)
    self.assertIn('against maml (mean)', text)
    self.assertIn('against metasgd (mean)', text)
    self.assertIn('| bayesian_taml (MC 10) | +20.00 ± 0.00 (2 ep.) | +20.00 ± 0.00 (2 ep.) |',
                  text)
    # No row compares a reference with itself.
    self.assertNotIn('| maml (mean) | +', text)
    self.assertNotIn('against', comparison.markdown(comparison.find_entries(self.root),
                                                    references=('nope',)))

  def test_different_episodes_are_not_paired(self):
    other = self.shots.copy()
    other[2, 0] = 2
    write_eval(f'{self.root}/z_taml/results', [0.5] * 4, other)
    entries = comparison.find_entries(self.root)
    with self.assertRaisesRegex(ValueError, 'not evaluated on the same mnist episodes'):
      comparison.paired_difference(entries[2], entries[0], 'mnist')
    with self.assertRaisesRegex(ValueError, 'same'):
      comparison.markdown(entries)

  def test_different_datasets_rejected(self):
    write_eval(f'{self.root}/z_taml/results', [0.5] * 4, self.shots, datasets=('omniglot',))
    with self.assertRaisesRegex(ValueError, 'evaluated on'):
      comparison.markdown(comparison.find_entries(self.root))

  def test_missing_and_corrupt_files(self):
    with self.assertRaisesRegex(FileNotFoundError, 'not a folder'):
      comparison.find_entries(os.path.join(self.root, 'nowhere'))
    empty = os.path.join(self.root, 'unevaluated')
    with self.assertRaisesRegex(FileNotFoundError, 'no evaluated run'):
      comparison.find_entries(empty)
    with self.assertRaisesRegex(ValueError, 'nothing to compare'):
      comparison.markdown([])
    folder = f'{self.root}/maml/results'
    os.remove(os.path.join(folder, 'balancing.npz'))
    with self.assertRaisesRegex(FileNotFoundError, 'balancing.npz does not exist'):
      comparison.load_entry(folder)
    with open(os.path.join(folder, 'balancing.npz'), 'wb') as f:
      f.write(b'not a zip')
    with self.assertRaisesRegex(ValueError, 'corrupt evaluation results'):
      reports.read_results(folder)
    with open(os.path.join(folder, 'results.json'), 'w') as f:
      f.write('[1, 2]')
    np.savez(os.path.join(folder, 'balancing.npz'), shots=self.shots)
    with self.assertRaisesRegex(ValueError, 'no "datasets" entry'):
      reports.read_results(folder)


if __name__ == '__main__':
  tf.test.main()
