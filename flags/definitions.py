"""absl flag definitions, grouped by binary (the authors' names keep their meaning).

Every flag is optional, so importing this module in tests never trips on a missing flag. Each
``define_*(flag_values=FLAGS)`` function is idempotent per FlagValues (tests define the flags on
a fresh ``flags.FlagValues()``).
"""

from __future__ import annotations

import functools
import sys

from absl import flags

from taml_tf.data.sampler import SHOT_MODES
from taml_tf.execution.distribute import STRATEGIES
from taml_tf.execution.trainer import BEST_RULES
from taml_tf.method import task_shape
from taml_tf.method.config import VARIANTS
from taml_tf.method.models import posteriors
from taml_tf.method.precision import PRECISIONS

FLAGS = flags.FLAGS


class _Definer:
  """``flags.DEFINE_*`` bound to one FlagValues (the global FLAGS, or a test's own)."""

  def __init__(self, flag_values: flags.FlagValues):
    self.flag_values = flag_values

  def __getattr__(self, name):
    return functools.partial(getattr(flags, name), flag_values=self.flag_values)


def _once(define):
  """Makes `define(flag_values=FLAGS)` idempotent per FlagValues object."""
  done = []

  def wrapper(flag_values: flags.FlagValues | None = None):
    flag_values = FLAGS if flag_values is None else flag_values
    if any(fv is flag_values for fv in done):
      return
    define(_Definer(flag_values))
    done.append(flag_values)
  wrapper.__doc__ = define.__doc__
  wrapper.__name__ = define.__name__
  return wrapper


def declare_main_module(module_name: str, flag_values: flags.FlagValues = FLAGS) -> None:
  """Makes a binary's key flags and docstring what ``--help`` shows, however it was started.

  absl's ``--help`` lists the key flags of the module named ``sys.argv[0]``: that is the
  launch module under ``python -m taml_tf.launch.<name>``, but pip's console-script shim
  (``.venv/bin/taml-<name>``) under the installed scripts, which declares no flags, so --help
  printed only "Try --helpfull". Call it in the binary's entry point, before ``app.run``.

  Args:
    module_name: ``__name__`` of the binary's module (its key flags are copied).
    flag_values: where the flags are registered.
  """
  main_name = sys.argv[0]
  for flag in flag_values.get_key_flags_for_module(module_name):
    flag_values.register_key_flag_for_module(main_name, flag)
  main = sys.modules.get('__main__')
  binary = sys.modules.get(module_name)
  # absl's usage text starts with the __main__ module's docstring; the shim has none.
  if main is not None and binary is not None and main is not binary and not main.__doc__:
    main.__doc__ = binary.__doc__


@_once
def define_run_flags(d):
  """Flags every binary shares: where the run lives and the data it reads."""
  d.DEFINE_string('savedir', './runs/taml', 'Run folder: checkpoints, config.json, logs, '
                      'results (authors\' flag). An existing run resumes; it refuses changed '
                      'flags except the schedule (--n_train_iters, --save_freq, --eval_freq, '
                      '--log_freq, --max_to_keep), --data_dir and the execution flags.')
  d.DEFINE_string('data_dir', None, 'Folder with the data files (omniglot_28x28.npz, '
                      'mnist_test.npz, ...) and/or TFDS data; default $TAML_DATA_DIR, else '
                      '../shared/data next to the repository.')
  d.DEFINE_integer('seed', 0, 'Seed of the episode stream and the posterior samples.')
  d.DEFINE_boolean('op_determinism', False, 'Enable TF op determinism (bit-identical '
                       'reruns, slower).')


@_once
def define_thread_flags(d):
  """TensorFlow's CPU thread pools (taml_tf.execution.threads), for every binary that runs steps."""
  d.DEFINE_integer('inter_op_threads', None, 'Ops TensorFlow runs side by side. Default: one '
                   'per core (the measured fastest, docs/performance.md), or '
                   '$TF_NUM_INTEROP_THREADS where set; 0: TensorFlow\'s own default.')
  d.DEFINE_integer('intra_op_threads', None, 'Threads one op may use. Default: 1 per op up to '
                   '7 cores (measured fastest on 2), or $TF_NUM_INTRAOP_THREADS where set; 0: '
                   'TensorFlow\'s own default.')


@_once
def define_data_flags(d):
  """The data sets and the task distribution."""
  d.DEFINE_list('id_dataset', ['embedded'], 'In-distribution data set(s): a name (embedded, '
                    'omniglot, mnist, cifar_fs, cub, svhn, vgg_flower, quickdraw, ...), '
                    'name:split, a labelled .npz or an image folder; several are mixed '
                    'round-robin (authors\' flag).')
  d.DEFINE_list('ood_dataset', None, 'Out-of-distribution data set(s), evaluated only; same '
                    'forms as --id_dataset (authors\' flag; default: none, or the saved run\'s '
                    'for taml-evaluate).')
  d.DEFINE_integer('way', task_shape.WAY, 'Classes per task (the largest way with --min_way).')
  d.DEFINE_integer('min_way', None, 'Any-way tasks: draw the way from [min_way, way].')
  d.DEFINE_integer('max_shot', task_shape.MAX_SHOT, 'Shots per class are drawn from [1, max_shot] '
                       '(authors\' flag; 50 in the paper\'s CIFAR-FS / miniImageNet runs).')
  d.DEFINE_integer('query', task_shape.QUERY, 'Query examples per class (authors\' flag; 15 in the paper).')
  d.DEFINE_enum('shot_mode', 'mixed', list(SHOT_MODES), 'Task distribution: mixed = the paper '
                    '(half class-imbalanced, half one shared shot), class_imbalance, '
                    'task_imbalance, fixed (classic N-way K-shot with K = max_shot).')
  d.DEFINE_enum('pad_to', None, ['max', 'bucket'], 'Support padding of training batches: '
                    'max = way*max_shot (fixed shapes; needed for XLA / TPU), bucket = fewer '
                    'padded rows (CPU / GPU). Default: max with --jit_compile or TPU, else '
                    'bucket. May differ when a run resumes.')
  d.DEFINE_boolean('rotations', False, 'Omniglot: rotated characters as extra classes.')
  d.DEFINE_integer('image_size', None, 'Image height = width (default per data set: 28 '
                       'Omniglot / MNIST / embedded, 32 CIFAR-FS / SVHN, 84 CUB).')
  d.DEFINE_integer('image_channels', None, 'Image channels, 1 or 3 (default per data set).')


@_once
def define_model_flags(d):
  """The meta-learner and its variant."""
  d.DEFINE_enum('variant', None, sorted(VARIANTS), 'Preset of the four switches: maml, '
                    'metasgd, omega_taml, gamma_taml, z_taml, deterministic_taml, bayesian_taml '
                    '(default: bayesian_taml unless switches are given).')
  d.DEFINE_boolean('alpha_on', None, 'Meta-SGD: learn per-parameter inner step sizes '
                       '(authors\' flag).')
  for variable in posteriors.VARIABLES:
    d.DEFINE_boolean(variable.switch, None, f'{variable.description} (authors\' flag).')
  d.DEFINE_boolean('deterministic', None, 'Posterior means and no KL (deterministic TAML).')
  d.DEFINE_integer('n_steps', 5, 'Inner gradient steps in meta-training (authors\' flag).')
  d.DEFINE_integer('n_test_steps', 10, 'Inner gradient steps at meta-test.')
  d.DEFINE_float('inner_lr', 0.5, 'Fixed inner step size when alpha is off (MAML; '
                     'authors\' flag).')
  d.DEFINE_float('alpha_init', 0.01, 'Initial Meta-SGD step size.')
  d.DEFINE_float('meta_lr', 1e-3, 'Adam learning rate of the outer loop (authors\' flag).')
  d.DEFINE_float('grad_clip', 3.0, 'Outer gradients are clipped by value to +-grad_clip.')
  d.DEFINE_integer('n_channels', 32, 'Filters per conv4 block.')
  d.DEFINE_integer('n_mc_samples', 10, 'Monte-Carlo samples of the balancing variables at '
                       'meta-test (authors\' flag).')
  d.DEFINE_boolean('first_order', False, 'First-order meta-gradient (no second order).')
  d.DEFINE_boolean('jit_compile', False, 'Compile the meta-gradient with XLA (for TPU; '
                       'measure before using it on CPU). May differ when a run resumes.')
  d.DEFINE_enum('encoder_init', 'authors', ['authors', 'glorot'], 'Initialiser of the set '
                    'encoder\'s instance net: authors (std 0.02) or glorot.')
  d.DEFINE_boolean('bn_second_order', True, 'Differentiate the meta-gradient through the '
                       'inner steps\' batch-norm backward (the exact gradient). '
                       '--nobn_second_order drops those terms, as the authors\' training '
                       'graph (TF1 tf.map_fn) did: an option for comparing with their numbers.')
  d.DEFINE_boolean('authors_padding', False, 'Pad the support sets of a meta-batch with zero '
                       'images to its longest one, counted by batch norm, the inner-loss '
                       'normaliser and the KL weight, as the authors\' data.py and model.py '
                       '(training, validation and meta-test, there in meta-batches of '
                       '--metabatch). Default: padding changes nothing.')
  d.DEFINE_boolean('sequential_tasks', False, 'Differentiate the tasks of a meta-batch one '
                       'after another: the same update with less peak memory, but slower. May '
                       'differ when a run resumes.')
  d.DEFINE_enum('precision', 'float32', list(PRECISIONS), 'Compute dtype of the backbone\'s '
                    'and the set encoder\'s convolutions and matmuls: float32, or '
                    'mixed_bfloat16 (variables, inner-loop updates, losses and posteriors '
                    'stay float32; fast only on TPUs, GPUs and CPUs with AMX / AVX512_BF16). '
                    'May differ when a run resumes.')
  d.DEFINE_boolean('recompute', False, 'Recompute each inner step\'s activations in the '
                       'backward pass instead of keeping them: less memory, more time. May '
                       'differ when a run resumes.')


@_once
def define_train_flags(d):
  """The training schedule and the distribution strategy."""
  d.DEFINE_integer('metabatch', 4, 'Tasks per meta-update, over all replicas (authors\' '
                       'flag).')
  d.DEFINE_integer('n_train_iters', 50000, 'Meta-updates in total (authors\' flag).')
  d.DEFINE_integer('save_freq', 1000, 'Checkpoint every this many steps (authors\' flag).')
  d.DEFINE_integer('eval_freq', 1000, 'Validate every this many steps (0: never).')
  d.DEFINE_integer('n_val_episodes', 100, 'Episodes per validation set.')
  d.DEFINE_integer('log_freq', 50, 'Progress line and summaries every this many steps.')
  d.DEFINE_integer('steps_per_call', 1, 'Meta-updates per host call (TPU: 50-100). May '
                       'differ when a run resumes.')
  d.DEFINE_integer('max_to_keep', 3, 'Recent checkpoints kept (raise it to keep a learning '
                       'curve\'s checkpoints, e.g. every --save_freq steps).')
  d.DEFINE_enum('best_rule', 'id', list(BEST_RULES), 'Validation accuracy that picks the '
                    'best checkpoint: id (in-distribution; default), ood, or mean (of all '
                    'validation sets: the authors\' rule, whose meta_test sums the in- and '
                    'out-of-distribution accuracies).')
  d.DEFINE_enum('strategy', 'default', list(STRATEGIES), 'Distribution strategy.')
  d.DEFINE_string('tpu', None, 'TPU name or address for --strategy=tpu (\'local\' on a TPU '
                      'VM).')
  d.DEFINE_float('collective_timeout', None, '--strategy=multi_worker: seconds a worker waits '
                 'in a collective for the others before the run stops with an error naming the '
                 'lost worker (default 600; 0: wait forever).')


@_once
def define_eval_flags(d):
  """Meta-test settings."""
  d.DEFINE_integer('n_test_episodes', 1000, 'Meta-test episodes per data set (authors\' '
                       'flag).')
  d.DEFINE_enum('eval_mode', 'mc', ['mc', 'mean'], 'mc: average n_mc_samples posterior '
                    'samples (the paper\'s meta-test); mean: the posterior mean.')
  d.DEFINE_string('checkpoint', 'best', 'Which checkpoint to evaluate or export: best (falls '
                      'back to latest when there is none), latest, or a step number (e.g. 2000, '
                      'for a learning curve).')
  d.DEFINE_string('output_dir', None, 'Where results go (default: <savedir>/results).')
  d.DEFINE_enum('test_padding', 'run', ['run', 'none'], 'run: a run trained with '
                    '--authors_padding is meta-tested as the authors did, in meta-batches of '
                    'its --metabatch padded to their longest support set; none: every episode '
                    'on its own real rows. Runs without --authors_padding are never padded.')
  d.DEFINE_string('saved_model', None, 'Evaluate this exported SavedModel (taml-export) instead '
                      'of a run folder: the data sets and tasks come from the data flags '
                      '(--id_dataset, --ood_dataset, --way, --max_shot, --query, ...), inner '
                      'steps and samples from the export; results go to --output_dir if set.')


@_once
def define_export_flags(d):
  """SavedModel export."""
  d.DEFINE_string('export_dir', None, 'SavedModel folder (default: <savedir>/saved_model).')
  d.DEFINE_boolean('overwrite', False, 'Replace an existing --export_dir.')
  d.DEFINE_integer('max_way', 20, 'Most classes a served task may have (model_info '
                       'max_way); may exceed the training --way: no parameter depends on it.')
  d.DEFINE_string('results_dir', None, 'taml-evaluate results of the exported checkpoint; '
                      'with it the export gets a MODEL_CARD.md (data, budget, flags, those '
                      'accuracies and the taml-evaluate --saved_model command that re-measures '
                      'them). Results the export cannot reproduce are refused.')
  d.DEFINE_multi_string('card_note', [], 'A line for the model card (e.g. the commit the run '
                            'was trained with); repeatable.')


def define_shared_flags(flag_values: flags.FlagValues | None = None) -> None:
  """Defines the flags that taml-train, taml-evaluate and taml-export all take: run, data,
  model, training and meta-test. All three binaries take all of them so that one flagfile
  drives train, evaluate and export (as the authors' one script did with --mode); a binary
  checks those that fix a trained run against it (``resolve.check_saved_run``) and ignores the
  rest.

  Args:
    flag_values: where to define them (default: the global FLAGS).
  """
  for define in (define_run_flags, define_thread_flags, define_data_flags, define_model_flags,
                 define_train_flags, define_eval_flags):
    define(flag_values)
