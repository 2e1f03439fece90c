"""taml-export: writes a trained run as a SavedModel with adapt-and-predict signatures.

  taml-export --savedir=runs/omniglot_taml --export_dir=models/omniglot_taml [--max_way=20]
"""


from absl import app
from absl import flags

from taml_tf import export
from taml_tf import run_dir
from taml_tf.flags import definitions
from taml_tf.flags import resolve

definitions.define_run_flags()
# taml-train's and taml-evaluate's flags too, so one flagfile drives train, evaluate and export
# (as the authors' one script did with --mode); those that fix the trained run are checked
# against it (resolve.check_saved_run), the meta-test ones apply as in taml-evaluate.
definitions.define_data_flags()
definitions.define_model_flags()
definitions.define_train_flags()
definitions.define_eval_flags()
definitions.define_export_flags()
flags.adopt_module_key_flags(definitions)
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  try:
    model, _ = resolve.evaluation_configs(FLAGS)
    path = run_dir.checkpoint_path(FLAGS.savedir, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as e:
    raise app.UsageError(str(e))
  target = FLAGS.export_dir or run_dir.saved_model_dir(FLAGS.savedir)
  try:
    written = export.export_from_checkpoint(model, path, target, overwrite=FLAGS.overwrite,
                                            max_way=FLAGS.max_way)
  except FileExistsError as e:
    raise app.UsageError(f'{e} (pass --overwrite to replace it)')
  except ValueError as e:  # e.g. --max_way=1
    raise app.UsageError(str(e))
  print(f'exported {path} to {written}')


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
