"""taml-export: writes a trained run as a SavedModel with adapt-and-predict signatures.

  taml-export --savedir=runs/omniglot_taml --export_dir=models/omniglot_taml [--max_way=20]

With --results_dir (taml-evaluate's output for the same checkpoint) the export also gets a
MODEL_CARD.md, as the published models under pretrained/ have:

  taml-export --savedir=RUN --checkpoint=2000 --results_dir=RUN/results/step_2000 \
      --export_dir=pretrained/omniglot_mnist/bayesian_taml
"""

import os

from absl import app
from absl import flags

from taml_tf.execution import run_dir
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.products import export
from taml_tf.products import model_card
from taml_tf.products import reports

definitions.define_shared_flags()
definitions.define_export_flags()
flags.adopt_module_key_flags(definitions)
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    resolve.configure_threads(FLAGS)  # before any TensorFlow op: the pools are fixed then
  except resolve.FlagError as e:
    raise app.UsageError(str(e))
  try:
    model, _ = resolve.evaluation_configs(FLAGS)
    path = run_dir.checkpoint_path(FLAGS.savedir, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  target = FLAGS.export_dir or run_dir.saved_model_dir(FLAGS.savedir)
  card = None
  if FLAGS.results_dir:
    try:
      card, results = card_text(model, path, target)
    except (FileNotFoundError, ValueError) as e:
      raise app.UsageError(f'--results_dir: {e}')
  try:
    written = export.export_from_checkpoint(model, path, target, overwrite=FLAGS.overwrite,
                                            max_way=FLAGS.max_way)
  except FileExistsError as e:
    raise app.UsageError(f'{e} (pass --overwrite to replace it)')
  except ValueError as e:  # e.g. --max_way=1
    raise app.UsageError(str(e))
  print(f'exported {path} to {written}')
  if card is not None:
    print(f'model card: {model_card.write(written, card, results)}')


def card_text(model, checkpoint_path: str, target: str) -> tuple:
  """(The model card of this export, the results it states), checked against what the export
  will serve."""
  run_config = run_dir.load_run_config(FLAGS.savedir)
  results, _ = reports.read_results(FLAGS.results_dir)
  model_card.check(run_config, results, dict(
      test_inner_steps=model.test_inner_steps, n_mc_samples=model.n_mc_samples,
      image_shape=model.image_shape))
  text = model_card.render(os.path.basename(os.path.normpath(target)), target, run_config,
                           model_card.checkpoint_step(checkpoint_path), results,
                           FLAGS.card_note)
  return text, results


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
