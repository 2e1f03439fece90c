"""taml-compare: one table of evaluated runs (accuracy, NLL, ECE, paired differences).

  taml-compare --runs=runs/omniglot_mnist_table --output=docs/reproduction/comparison.md
  taml-compare --runs=~/taml_runs/omniglot_mnist_study --results=results/step_500 \
      --learning_curve=docs/figures/omniglot_mnist/learning_curve.png
  taml-compare --runs=~/taml_runs/omniglot_mnist_study \
      --results=results/step_10000,results/step_10000_mc --references=metasgd,maml
  taml-compare --runs=~/taml_runs/omniglot_mnist_study --seeds=0,1,2 \
      --results=results/step_10000,results/step_10000_mc \
      --pairs=bayesian_taml-maml,bayesian_taml-metasgd,maml-metasgd,maml-maml_authors

Reads <runs>/<run>/results*/ (written by taml-evaluate); runs evaluated on the same seeded
episodes are also compared episode by episode against the --references runs. With --seeds, one
table of the --pairs comparisons across training seeds (<run>, <run>_seed1, ...) instead.
"""

from absl import app
from absl import flags

from taml_tf.execution import atomic
from taml_tf.flags import definitions
from taml_tf.products import comparison
from taml_tf.products import figures

flags.DEFINE_string('runs', None, 'Folder of run folders, each evaluated by taml-evaluate.',
                    required=True)
flags.DEFINE_list('results', None, 'Compare the evaluations in these folders of each run '
                  '(e.g. results/step_2000, one budget of the long study, or results/step_10000,'
                  'results/step_10000_mc for its final protocol) instead of every '
                  '<run>/results*.')
flags.DEFINE_list('references', ['maml', 'metasgd'], 'Runs to take paired accuracy '
                  'differences against (run folder names).')
flags.DEFINE_list('seeds', None, 'Instead of the table of every run, print the table across '
                  'these training seeds (e.g. 0,1,2) of the --pairs comparisons: per seed the '
                  'paired difference on the same episodes with its episode 95% interval, the '
                  'mean over seeds with a Student-t 95% interval over the seeds (seeds - 1 '
                  'degrees of freedom; n/a for one seed), and whether every seed has the same '
                  'sign. Seed 0 is the run folder <run>, seed S > 0 is <run>_seed<S>. A missing '
                  'run folder or evaluation is an error naming every missing path, unless '
                  '--allow_missing_seeds.')
flags.DEFINE_list('pairs', None, 'With --seeds: the comparisons A-B as seed-0 run folder names, '
                  'e.g. bayesian_taml-maml,bayesian_taml-metasgd,maml-metasgd,maml-maml_authors. '
                  'Each --results evaluation of A is one row, paired with B\'s evaluation of the '
                  'same meta-test mode (Monte-Carlo or posterior mean) where B has one, else '
                  'B\'s posterior mean.')
flags.DEFINE_bool('allow_missing_seeds', False, 'With --seeds: print a partial table where a '
                  'seed\'s run or evaluation is missing (its cell reads "missing"; the mean and '
                  'interval are over the seeds found) instead of failing.')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')
flags.DEFINE_string('learning_curve', None, 'Also plot meta-test accuracy against meta-updates '
                    'from every <run>/results/step_<N>/ into this PNG (the long study).')
FLAGS = flags.FLAGS


def _seeds(values) -> list:
  """--seeds as a list of non-negative integers; ValueError otherwise."""
  try:
    seeds = [int(v) for v in values]
  except ValueError:
    seeds = []
  if not seeds or min(seeds) < 0:
    raise ValueError(f'--seeds wants non-negative integers, e.g. 0,1,2; got {",".join(values)}')
  return seeds


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if (FLAGS.seeds is None) != (FLAGS.pairs is None):
    raise app.UsageError('--seeds and --pairs go together: the seeds of each run, and which '
                         'runs to compare')
  try:
    if FLAGS.seeds is None:
      entries = comparison.find_entries(FLAGS.runs, FLAGS.results)
      text = comparison.markdown(entries, FLAGS.references)
    else:
      seeds = _seeds(FLAGS.seeds)
      rows = comparison.seed_rows(FLAGS.runs, comparison.parse_pairs(FLAGS.pairs), seeds,
                                  FLAGS.results, allow_missing=FLAGS.allow_missing_seeds)
      text = comparison.seeds_markdown(rows, seeds, FLAGS.results)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  print(text)
  if FLAGS.output:
    atomic.write_text(FLAGS.output, text)
    print(f'written: {FLAGS.output}')
  if FLAGS.learning_curve:
    try:
      curves = comparison.learning_curves(FLAGS.runs)
    except (FileNotFoundError, ValueError) as e:
      raise app.UsageError(str(e))
    print(f'written: {figures.plot_learning_curves(curves, FLAGS.learning_curve)}')


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
