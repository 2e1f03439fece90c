"""taml-compare: one table of evaluated runs (accuracy, NLL, ECE, paired differences).

  taml-compare --runs=runs/omniglot_mnist_table --output=docs/reproduction/comparison.md
  taml-compare --runs=~/taml_runs/omniglot_mnist_study --results=results/step_500 \
      --learning_curve=docs/figures/omniglot_mnist/learning_curve.png
  taml-compare --runs=~/taml_runs/omniglot_mnist_study \
      --results=results/step_10000,results/step_10000_mc --references=metasgd,maml

Reads <runs>/<run>/results*/ (written by taml-evaluate); runs evaluated on the same seeded
episodes are also compared episode by episode against the --references runs.
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
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')
flags.DEFINE_string('learning_curve', None, 'Also plot meta-test accuracy against meta-updates '
                    'from every <run>/results/step_<N>/ into this PNG (the long study).')
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    entries = comparison.find_entries(FLAGS.runs, FLAGS.results)
    text = comparison.markdown(entries, FLAGS.references)
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
