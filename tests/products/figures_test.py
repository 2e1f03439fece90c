"""Tests of the figure helpers (PNG files from synthetic records and real summaries)."""

import os

import numpy as np
import tensorflow as tf

from taml_tf.products import figures


def _is_png(path):
  with open(path, 'rb') as f:
    return f.read(8) == b'\x89PNG\r\n\x1a\n'


class FiguresTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    e = 40
    shots = rng.integers(1, 10, size=(e, 5))
    omega = rng.random((e, 5)).astype(np.float32)
    self.arrays = dict(
        dataset=np.array(['omniglot'] * 20 + ['mnist'] * 20), way=np.full(e, 5),
        shots=shots, omega=omega / omega.sum(1, keepdims=True),
        z_relative_change=rng.random(e))
    self.out = self.get_temp_dir()

  def test_balancing_figures_are_pngs(self):
    for path in (figures.plot_omega_vs_class_size(self.arrays, os.path.join(self.out, 'o.png')),
                 figures.plot_z_shift(self.arrays, ['mnist'], os.path.join(self.out, 'z.png')),
                 figures.plot_gamma_tendency([1, 2, 4], np.ones((3, 5)), 2, 5,
                                             os.path.join(self.out, 'g.png'))):
      self.assertTrue(_is_png(path), path)
      self.assertFalse(os.path.exists(path + '.tmp.png'))

  def test_balancing_summary_holds_the_drawn_numbers(self):
    arrays = {k: v.copy() for k, v in self.arrays.items()}
    # A class-balanced task with a lopsided omega: the summary, like the figure, leaves it out.
    arrays['shots'][0] = 3
    arrays['omega'][0] = [0.96, 0.01, 0.01, 0.01, 0.01]
    summary = figures.balancing_summary(arrays, ['mnist'], [1, 2],
                                        np.array([[1.0, 2.0], [3.0, 4.0]]), way=5)
    weights = {}
    for shots, omega in zip(arrays['shots'][1:], arrays['omega'][1:]):
      if len(set(shots)) > 1:
        for s, o in zip(shots, omega):
          weights.setdefault(int(s), []).append(5 * o)
    self.assertEqual(sorted(summary['omega_by_class_size']), sorted(weights))
    for s, values in weights.items():
      self.assertAlmostEqual(summary['omega_by_class_size'][s], np.mean(values), places=6)
    z = arrays['z_relative_change']
    self.assertEqual(summary['z_relative_change'],
                     {'omniglot': {'mean': z[:20].mean(), 'ood': False},
                      'mnist': {'mean': z[20:].mean(), 'ood': True}})
    self.assertEqual(summary['gamma_tendency'],
                     {'task_sizes': [5, 10], 'layers': ['conv1', 'head'],
                      'exp_gamma': [[1.0, 2.0], [3.0, 4.0]]})
    # Variables that are off have no entry.
    self.assertEqual(figures.balancing_summary({}, ['mnist']), {})
    balanced = dict(arrays, shots=np.full_like(arrays['shots'], 2))
    self.assertEqual(figures.balancing_summary(balanced, ['mnist'])['omega_by_class_size'], {})
    with self.assertRaisesRegex(ValueError, 'no class-imbalanced task'):
      figures.plot_omega_vs_class_size(balanced, os.path.join(self.out, 'none.png'))

  def test_reliability_and_training_curves(self):
    rel = dict(confidence=[None, 0.3, 0.9], accuracy=[None, 0.2, 0.95], count=[0, 5, 10])
    run = {'datasets': {'mnist': {'reliability': rel, 'ece': 0.05}}}
    path = figures.plot_reliability({'maml': run, 'taml': run}, 'mnist',
                                    os.path.join(self.out, 'r.png'))
    self.assertTrue(_is_png(path))
    logs = os.path.join(self.out, 'run', 'logs')
    for kind, tag in (('train', 'loss'), ('validation', 'mnist/accuracy')):
      writer = tf.summary.create_file_writer(os.path.join(logs, kind))
      with writer.as_default():
        for step in range(3):
          tf.summary.scalar(tag, 0.5 * step, step=step)
      writer.close()
    scalars = figures.read_scalars(os.path.join(logs, 'train'))
    self.assertEqual(scalars['loss'], ([0, 1, 2], [0.0, 0.5, 1.0]))
    # A resume from the checkpoint at step 1 logs steps 1 and 2 again, then goes on: the
    # curve keeps the resumed run's values, once per step.
    writer = tf.summary.create_file_writer(os.path.join(logs, 'train'))
    with writer.as_default():
      for step in (1, 2, 3):
        tf.summary.scalar('loss', 10.0 + step, step=step)
    writer.close()
    scalars = figures.read_scalars(os.path.join(logs, 'train'))
    self.assertEqual(scalars['loss'], ([0, 1, 2, 3], [0.0, 11.0, 12.0, 13.0]))
    self.assertTrue(_is_png(figures.plot_training_curves(os.path.join(self.out, 'run'),
                                                         os.path.join(self.out, 't.png'))))

  def test_learning_curves(self):
    curves = {'metasgd': {'omniglot': [(500, 0.8, 0.01), (2000, 0.9, 0.01)],
                          'mnist': [(500, 0.7, 0.01), (2000, 0.75, 0.01)]},
              'maml': {'omniglot': [(500, 0.6, 0.02)]}}  # a run not yet evaluated on mnist
    path = figures.plot_learning_curves(curves, os.path.join(self.out, 'curve.png'))
    self.assertTrue(_is_png(path))
    self.assertFalse(os.path.exists(path + '.tmp.png'))

  def test_other_trainings_share_their_variants_colour(self):
    self.assertEqual(figures._run_style('maml_authors'), ('maml', '--'))
    self.assertEqual(figures._run_style('bayesian_taml_padding'), ('bayesian_taml', '-.'))
    self.assertEqual(figures._run_style('bayesian_taml_glorot'), ('bayesian_taml_glorot', '-'))
    curves = {'maml': {'omniglot': [(500, 0.6, 0.02)]},
              'metasgd': {'omniglot': [(500, 0.8, 0.01)]},
              'maml_authors': {'omniglot': [(500, 0.7, 0.02)]}}
    captured = []
    original = figures.plt.Axes.errorbar

    def errorbar(ax, *args, **kwargs):
      captured.append((kwargs['label'], kwargs['color'], kwargs['linestyle']))
      return original(ax, *args, **kwargs)

    figures.plt.Axes.errorbar = errorbar
    try:
      figures.plot_learning_curves(curves, os.path.join(self.out, 'both.png'))
    finally:
      figures.plt.Axes.errorbar = original
    style = {label: (colour, line) for label, colour, line in captured}
    self.assertEqual(style['maml'][0], style['maml_authors'][0])
    self.assertNotEqual(style['maml'][0], style['metasgd'][0])
    self.assertEqual((style['maml'][1], style['maml_authors'][1]), ('-', '--'))


if __name__ == '__main__':
  tf.test.main()
