"""taml-figures: the paper's figures from trained, evaluated runs (PNG), and their numbers.

  taml-figures --savedir=runs/omni_taml --compare=runs/omni_maml,runs/omni_taml \
      --out_dir=docs/figures

or one checkpoint of a long run, with taml-evaluate's results of that checkpoint:

  taml-figures --savedir=RUN --checkpoint=2000 --results_dir=RUN/results/step_2000 \
      --out_dir=docs/figures/step_2000

Besides the PNGs, <out_dir>/figures.json holds the numbers drawn (omega per class size, z's
shift per data set, exp(gamma) per task size and layer) and the checkpoint they came from.
"""

import json
import os

import numpy as np
from absl import app
from absl import flags
from absl import logging

from taml_tf.data import experiment
from taml_tf.execution import atomic
from taml_tf.execution import run_dir
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.products import figures
from taml_tf.products import reports

flags.DEFINE_string('savedir', None, 'A trained and evaluated Bayesian TAML run (taml-train, '
                    'then taml-evaluate).', required=True)
flags.DEFINE_list('compare', None, 'Evaluated runs whose reliability diagrams are compared '
                  '(e.g. a MAML run and a Bayesian TAML run).')
flags.DEFINE_string('out_dir', None, 'Where the PNGs go (default: <savedir>/figures).')
flags.DEFINE_integer('tendency_tasks', 20, 'Tasks per size in the gamma tendency figure.')
flags.DEFINE_string('checkpoint', 'best', 'The checkpoint whose gamma is probed: best, latest or '
                    'a step number (match it with --results_dir).')
flags.DEFINE_string('results_dir', None, "taml-evaluate's output to draw omega, z and the "
                    'reliability from (default: <savedir>/results).')
FLAGS = flags.FLAGS


def _results_of(savedir: str, own: dict) -> dict:
  """results.json of a run to compare: `own` (from --results_dir) for --savedir itself, else
  the run's default evaluation."""
  if os.path.realpath(savedir) == os.path.realpath(FLAGS.savedir):
    return own
  return reports.read_results(run_dir.results_dir(savedir))[0]


def main(argv):
  del argv
  out = FLAGS.out_dir or os.path.join(FLAGS.savedir, 'figures')
  results_dir = FLAGS.results_dir or run_dir.results_dir(FLAGS.savedir)
  try:
    model, data, _ = resolve.saved_configs(FLAGS.savedir)
    results, arrays = reports.read_results(results_dir)
    checkpoint = run_dir.checkpoint_path(FLAGS.savedir, FLAGS.checkpoint)
    runs = {os.path.basename(d.rstrip('/')): _results_of(d, results)
            for d in FLAGS.compare or [FLAGS.savedir]}
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(f'{e} (train and evaluate the run first)')
  ood = experiment.ood_names(data)
  shots = gamma = None
  if model.gamma_on:
    learner = run_dir.restore_learner(model, checkpoint)
    source = experiment.build_source(data, data.id_datasets[0], data.test_split)
    shots = [k for k in (1, 2, 4, 8, 15, 30, 50, 100) if k <= 2 * data.max_shot and
             k <= int(np.min(source.counts))] or [1]
    gamma = figures.gamma_tendency(learner, source, shots, data.way, FLAGS.tendency_tasks)
  summary = figures.balancing_summary(arrays, ood, shots, gamma, data.way)
  written = [figures.plot_training_curves(FLAGS.savedir, os.path.join(out, 'training.png'))]
  if summary.get('omega_by_class_size'):
    written.append(figures.plot_omega_vs_class_size(arrays, os.path.join(out, 'omega.png')))
  elif 'omega' in arrays:
    logging.warning('no omega figure: no evaluated task has classes of different sizes')
  if 'z_relative_change' in arrays:
    written.append(figures.plot_z_shift(arrays, ood, os.path.join(out, 'z_shift.png')))
  if gamma is not None:
    written.append(figures.plot_gamma_tendency(shots, gamma, data.max_shot, data.way,
                                               os.path.join(out, 'gamma_tendency.png')))
  summary.update(checkpoint=checkpoint, results_dir=results_dir)
  path = os.path.join(out, 'figures.json')
  atomic.write_text(path, json.dumps(summary, indent=1) + '\n')
  written.append(path)
  for name in results['datasets']:
    written.append(figures.plot_reliability(runs, name,
                                            os.path.join(out, f'reliability_{name}.png')))
  print('\n'.join(written))


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
