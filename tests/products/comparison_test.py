"""Tests of taml_tf.products.comparison on hand-made evaluation folders (numbers checked by hand)."""

import json
import os
import shutil
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


# The shots of the four episodes every hand-made evaluation here is meta-tested on.
SHOTS = np.array([[1, 2, 3, 4, 5], [5, 5, 5, 5, 5], [1, 1, 1, 1, 1], [9, 1, 2, 3, 4]])


def temp_root(test):
  """A folder of runs that lives as long as `test`."""
  tmp = tempfile.TemporaryDirectory()
  test.addCleanup(tmp.cleanup)
  return tmp.name


class ComparisonTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root, self.shots = temp_root(self), SHOTS
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


# Student-t 97.5% quantiles from tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2), not from
# the code under test: df 1, 2, 3, 4, 10, 30.
T_975 = {1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 10: 2.228139, 30: 2.042272}


class SeedsTest(tf.test.TestCase):
  """The across-seed table: runs <run> (seed 0) and <run>_seed<S>, with per-episode accuracies
  chosen so that every number has a value worked out by hand."""

  def setUp(self):
    super().setUp()
    self.root, self.shots = temp_root(self), SHOTS
    # bayesian_taml - maml per episode: seed 0 (.1, 0, .2, 0), mean .075; seed 1 .1 on every
    # episode; seed 2 .05 on every episode. Seed means .075, .1, .05: mean .075, sample std
    # .025.
    accuracies = {
        'maml': ([0.5, 0.6, 0.7, 0.8], [0.5] * 4, [0.8] * 4),
        'bayesian_taml': ([0.6, 0.6, 0.9, 0.8], [0.6] * 4, [0.85] * 4),
        # metasgd - maml: seed 0 (0, .1, 0, .1) mean +.05; seed 1 -.1; seed 2 +.1: signs differ.
        'metasgd': ([0.5, 0.7, 0.7, 0.9], [0.4] * 4, [0.9] * 4),
    }
    for run, per_seed in accuracies.items():
      for seed, acc in enumerate(per_seed):
        write_eval(self.folder(run, seed), acc, self.shots)
    # Monte-Carlo of bayesian_taml: +.2 over maml on every episode at every seed.
    for seed, acc in enumerate(([0.7, 0.8, 0.9, 1.0], [0.7] * 4, [1.0] * 4)):
      write_eval(self.folder('bayesian_taml', seed, 'results_mc'), acc, self.shots, mode='mc')
    self.subdirs = ['results', 'results_mc']

  def folder(self, run, seed, sub='results'):
    name = run if seed == 0 else f'{run}_seed{seed}'
    return os.path.join(self.root, name, sub)

  def rows(self, pairs, seeds=(0, 1, 2), **kwargs):
    rows = comparison.seed_rows(self.root, comparison.parse_pairs(pairs), seeds, self.subdirs,
                                **kwargs)
    return {(r.label, r.dataset): r for r in rows}

  def test_t_quantile_against_tables(self):
    for df, t in T_975.items():
      self.assertAllClose(comparison.t_quantile(0.975, df), t, atol=1e-6, msg=f'df {df}')
    self.assertEqual(comparison.t_quantile(0.5, 3), 0.0)
    try:
      from scipy import stats  # pylint: disable=g-import-not-at-top
    except ImportError:
      return
    for df in range(1, 40):
      for p in (0.6, 0.9, 0.975, 0.995):
        self.assertAllClose(comparison.t_quantile(p, df), stats.t.ppf(p, df), rtol=1e-9)

  def test_t_quantile_rejects_bad_arguments(self):
    for p, df in ((0.975, 0), (0.975, 2.5), (1.0, 2), (0.4, 2)):
      with self.assertRaises(ValueError):
        comparison.t_quantile(p, df)

  def test_seed_interval(self):
    mean, half = comparison.seed_interval([0.075, 0.1, 0.05])
    self.assertAllClose(mean, 0.075)
    self.assertAllClose(half, T_975[2] * 0.025 / np.sqrt(3), rtol=1e-6)
    mean, half = comparison.seed_interval([0.3])
    self.assertEqual(mean, 0.3)
    self.assertTrue(np.isnan(half))

  def test_per_seed_differences_mean_and_t_interval(self):
    rows = self.rows(['bayesian_taml-maml'])
    self.assertEqual(sorted({label for label, _ in rows}),
                     ['bayesian_taml (MC 10) - maml (mean)', 'bayesian_taml (mean) - maml (mean)'])
    for dataset in ('omniglot', 'mnist'):
      row = rows['bayesian_taml (mean) - maml (mean)', dataset]
      # Seed 0 paired over episodes: differences .1, 0, .2, 0 (population std sqrt(.006875)).
      diff, ci, n = row.per_seed[0]
      self.assertAllClose((diff, ci), (0.075, 1.96 * np.sqrt(0.006875) / 2))
      self.assertEqual(n, 4)
      self.assertAllClose([row.per_seed[s][:2] for s in (1, 2)], [(0.1, 0), (0.05, 0)],
                          atol=1e-12)
      self.assertAllClose(row.mean, 0.075)
      self.assertAllClose(row.half_width, T_975[2] * 0.025 / np.sqrt(3), rtol=1e-6)
      self.assertEqual(row.num_seeds, 3)
      self.assertTrue(row.same_sign)
      self.assertTrue(row.excludes_zero)  # .075 - .062 > 0
    # Monte-Carlo against maml, which has only a posterior mean: +.2 at every seed, no spread.
    mc = rows['bayesian_taml (MC 10) - maml (mean)', 'mnist']
    self.assertAllClose([mc.per_seed[s][0] for s in (0, 1, 2)], [0.2] * 3)
    self.assertAllClose((mc.mean, mc.half_width), (0.2, 0.0), atol=1e-12)

  def test_signs_that_differ_across_seeds(self):
    row = self.rows(['metasgd-maml'])['metasgd (mean) - maml (mean)', 'omniglot']
    self.assertAllClose([row.per_seed[s][0] for s in (0, 1, 2)], [0.05, -0.1, 0.1])
    # Mean .05/3; sample std of (.05, -.1, .1) = sqrt(.0108333..) .
    self.assertAllClose(row.mean, 0.05 / 3)
    self.assertAllClose(row.half_width, T_975[2] * np.sqrt(0.065 / 6) / np.sqrt(3), rtol=1e-6)
    self.assertFalse(row.same_sign)
    self.assertFalse(row.excludes_zero)

  def test_monte_carlo_is_paired_with_monte_carlo(self):
    for seed in (0, 1, 2):
      write_eval(self.folder('maml', seed, 'results_mc'), [0.5] * 4, self.shots, mode='mc')
    rows = self.rows(['bayesian_taml-maml'])
    # MC of bayesian_taml at seed 1 is .7 everywhere, MC of maml .5.
    row = rows['bayesian_taml (MC 10) - maml (MC 10)', 'omniglot']
    self.assertAllClose(row.per_seed[1][0], 0.2)

  def test_one_seed_has_no_interval(self):
    rows = self.rows(['bayesian_taml-maml'], seeds=[1])
    row = rows['bayesian_taml (mean) - maml (mean)', 'mnist']
    self.assertAllClose(row.mean, 0.1)
    self.assertTrue(np.isnan(row.half_width))
    self.assertIsNone(row.same_sign)
    self.assertIsNone(row.excludes_zero)
    text = comparison.seeds_markdown(list(rows.values()), [1], self.subdirs)
    self.assertIn('| bayesian_taml (mean) - maml (mean) | mnist | +10.00 ± 0.00 (4 ep.) | 1 | '
                  '+10.00 ± n/a | n/a | n/a |', text)

  def test_markdown(self):
    rows = comparison.seed_rows(self.root, comparison.parse_pairs(['bayesian_taml-maml',
                                                                   'metasgd-maml']),
                                [0, 1, 2], self.subdirs)
    text = comparison.seeds_markdown(rows, [0, 1, 2], self.subdirs)
    self.assertIn('| comparison | data set | seed 0 | seed 1 | seed 2 | seeds | mean over seeds '
                  '± t 95% | same sign on all seeds | t interval excludes 0 |', text)
    self.assertIn('Student-t 95% interval', text)
    self.assertIn('seeds - 1 degrees of freedom', text)
    half = 100 * T_975[2] * 0.025 / np.sqrt(3)  # 6.21
    ci0 = 100 * 1.96 * np.sqrt(0.006875) / 2  # 8.13
    self.assertIn(f'| bayesian_taml (mean) - maml (mean) | omniglot | +7.50 ± {ci0:.2f} (4 ep.) '
                  '| +10.00 ± 0.00 (4 ep.) | +5.00 ± 0.00 (4 ep.) | 3 | '
                  f'+7.50 ± {half:.2f} | yes | yes |', text)
    self.assertIn('| metasgd (mean) - maml (mean) | mnist | +5.00 ± ', text)
    self.assertRegex(text, r'\| metasgd \(mean\) - maml \(mean\) \| mnist .* \| 3 \| \+1\.67 ± '
                     r'[0-9.]+ \| no \| no \|')
    # One row per comparison, evaluation of A and data set.
    self.assertEqual(len([l for l in text.splitlines() if l.startswith('| ') and ' - ' in l]),
                     6)

  def test_missing_seeds_are_named_or_marked(self):
    os.remove(os.path.join(self.folder('bayesian_taml', 2, 'results_mc'), 'results.json'))
    shutil.rmtree(os.path.join(self.root, 'maml_seed1'))
    with self.assertRaises(FileNotFoundError) as raised:
      self.rows(['bayesian_taml-maml'])
    message = str(raised.exception)
    self.assertIn(os.path.join(self.root, 'maml_seed1') + ' does not exist', message)
    self.assertIn(os.path.join(self.root, 'bayesian_taml_seed2', 'results_mc', 'results.json'),
                  message)
    self.assertNotIn('metasgd', message)
    rows = self.rows(['bayesian_taml-maml'], allow_missing=True)
    mean = rows['bayesian_taml (mean) - maml (mean)', 'mnist']
    self.assertIsNone(mean.per_seed[1])
    self.assertEqual(mean.num_seeds, 2)
    # Seeds 0 and 2: .075 and .05, sample std .025 / sqrt(2), t with 1 degree of freedom.
    self.assertAllClose(mean.mean, 0.0625)
    self.assertAllClose(mean.half_width, T_975[1] * 0.025 / np.sqrt(2) / np.sqrt(2), rtol=1e-6)
    mc = rows['bayesian_taml (MC 10) - maml (mean)', 'mnist']
    self.assertEqual([s for s, v in mc.per_seed.items() if v is None], [1, 2])
    self.assertIsNone(mc.same_sign)
    text = comparison.seeds_markdown(list(rows.values()), [0, 1, 2])
    self.assertIn('| bayesian_taml (MC 10) - maml (mean) | mnist | +20.00 ± 0.00 (4 ep.) | '
                  'missing | missing | 1 | +20.00 ± n/a | n/a | n/a |', text)
    with self.assertRaisesRegex(FileNotFoundError, 'nope_seed1 does not exist'):
      self.rows(['bayesian_taml-nope'])

  def test_episodes_protocol_and_names_are_checked(self):
    other = self.shots.copy()
    other[0, 0] = 2
    shutil.rmtree(self.folder('metasgd', 1))
    write_eval(self.folder('metasgd', 1), [0.5] * 4, other)
    with self.assertRaisesRegex(ValueError, 'not evaluated on the same omniglot episodes'):
      self.rows(['metasgd-maml'])
    shutil.rmtree(self.folder('bayesian_taml', 2, 'results_mc'))
    write_eval(self.folder('bayesian_taml', 2, 'results_mc'), [0.5] * 4, self.shots)
    with self.assertRaisesRegex(ValueError, 'meta-tested differently.*seed 2: bayesian_taml '
                                r'\(mean\)'):
      self.rows(['bayesian_taml-maml'])
    for bad in (['maml'], ['maml-maml'], ['a-b-c'], ['-maml'], []):
      with self.assertRaises(ValueError, msg=bad):
        comparison.parse_pairs(bad)
    with self.assertRaisesRegex(ValueError, 'distinct seeds'):
      self.rows(['metasgd-maml'], seeds=[0, 0])
    with self.assertRaisesRegex(FileNotFoundError, 'not a folder'):
      comparison.seed_rows(os.path.join(self.root, 'nowhere'), [('maml', 'metasgd')], [0])


if __name__ == '__main__':
  tf.test.main()
