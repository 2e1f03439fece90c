"""taml-figures: the paper's figures from trained, evaluated runs (PNG).

  taml-figures --savedir=runs/omni_taml --compare=runs/omni_maml,runs/omni_taml \
      --out_dir=docs/figures
"""

import os

import numpy as np
from absl import app
from absl import flags

from taml_tf import experiment
from taml_tf import figures
from taml_tf import reports
from taml_tf import run_dir
from taml_tf.flags import definitions
from taml_tf.flags import resolve

flags.DEFINE_string('savedir', None, 'A trained and evaluated Bayesian TAML run (taml-train, '
                    'then taml-evaluate).', required=True)
flags.DEFINE_list('compare', None, 'Evaluated runs whose reliability diagrams are compared '
                  '(e.g. a MAML run and a Bayesian TAML run).')
flags.DEFINE_string('out_dir', None, 'Where the PNGs go (default: <savedir>/figures).')
flags.DEFINE_integer('tendency_tasks', 20, 'Tasks per size in the gamma tendency figure.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  out = FLAGS.out_dir or os.path.join(FLAGS.savedir, 'figures')
  try:
    model, data, _ = resolve.saved_configs(FLAGS.savedir)
    results, arrays = reports.read_results(run_dir.results_dir(FLAGS.savedir))
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(f'{e} (train and evaluate the run first)')
  written = [figures.plot_training_curves(FLAGS.savedir, os.path.join(out, 'training.png'))]
  if 'omega' in arrays:
    written.append(figures.plot_omega_vs_class_size(arrays, os.path.join(out, 'omega.png')))
  if 'z_relative_change' in arrays:
    written.append(figures.plot_z_shift(arrays, experiment.ood_names(data),
                                        os.path.join(out, 'z_shift.png')))
  if model.gamma_on:
    learner, _ = run_dir.restore(FLAGS.savedir, 'best', model)
    source = experiment.build_source(data, data.id_datasets[0], data.test_split)
    shots = [k for k in (1, 2, 4, 8, 15, 30, 50, 100) if k <= 2 * data.max_shot and
             k <= int(np.min(source.counts))] or [1]
    gamma = figures.gamma_tendency(learner, source, shots, data.way, FLAGS.tendency_tasks)
    written.append(figures.plot_gamma_tendency(shots, gamma, data.max_shot, data.way,
                                               os.path.join(out, 'gamma_tendency.png')))
  runs = {os.path.basename(d.rstrip('/')): reports.read_results(run_dir.results_dir(d))[0]
          for d in (FLAGS.compare or [FLAGS.savedir])}
  for name in results['datasets']:
    written.append(figures.plot_reliability(runs, name,
                                            os.path.join(out, f'reliability_{name}.png')))
  print('\n'.join(written))


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
