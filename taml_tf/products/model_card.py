"""Model cards for published SavedModels: what was trained, on what, for how long, how well.

A card is the MODEL_CARD.md that ``taml-export --results_dir=...`` writes into an export. It is
made from the run's config.json, the checkpoint's step and the taml-evaluate results of that
checkpoint, and it gives the ``taml-evaluate --saved_model`` command that re-measures those
results from the SavedModel alone (the same episodes and seeds give the same numbers; see
:func:`taml_tf.products.evaluation.evaluate_saved_model`). :func:`check` refuses results the export
cannot reproduce (other inner steps or samples, another image size, a data set the run was not
tested on), before the export starts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import typing

from taml_tf.execution import atomic
from taml_tf.products import reports

FILE_NAME = 'MODEL_CARD.md'
RESULTS_FILE = 'results.json'


def checkpoint_step(checkpoint_path: str) -> int:
  """The training step of a checkpoint prefix such as ``.../ckpt-2000`` or ``.../best-1000``.

  Raises:
    ValueError: if the prefix does not end in ``-<step>``.
  """
  match = re.search(r'-(\d+)$', os.path.basename(os.fspath(checkpoint_path)))
  if not match:
    raise ValueError(f'cannot read a training step from checkpoint {checkpoint_path!r}')
  return int(match.group(1))


def check(run_config: dict, results: dict, serving: dict) -> None:
  """Checks that an export can reproduce `results`, so its card does not promise other numbers.

  Args:
    run_config: the run's config.json ({'model', 'train', 'data'}).
    results: taml-evaluate's results.json of the checkpoint being exported.
    serving: what the export will serve: 'test_inner_steps', 'n_mc_samples' and 'image_shape'.

  Raises:
    ValueError: naming each mismatch (inner steps, Monte-Carlo samples, image size, data sets).
  """
  problems = []
  data = run_config['data']
  if results.get('num_steps') != serving['test_inner_steps']:
    problems.append(f"the results used {results.get('num_steps')} inner steps, the export "
                    f"serves {serving['test_inner_steps']}")
  if results.get('mode') not in ('mean', 'mc'):
    problems.append(f"the results' mode is {results.get('mode')!r}, not 'mean' or 'mc'")
  elif results['mode'] == 'mc' and results.get('num_samples') != serving['n_mc_samples']:
    problems.append(f"the results used {results.get('num_samples')} Monte-Carlo samples, the "
                    f"export serves {serving['n_mc_samples']}")
  if list(serving['image_shape']) != list(data['image_shape']):
    problems.append(f"the run was trained on {list(data['image_shape'])} images, the export "
                    f"takes {list(serving['image_shape'])}")
  if data.get('test_split', 'test') != 'test':
    problems.append(f"the run was meta-tested on split {data['test_split']!r}; "
                    "taml-evaluate --saved_model tests on 'test'")
  tested = list(data['id_datasets']) + list(data['ood_datasets'])
  missing = [n for n in tested if n not in results.get('datasets', {})]
  if missing:
    problems.append(f'the results lack the data sets {missing} of the run ({tested})')
  unknown = [n for n in results.get('datasets', {}) if n not in tested]
  if unknown:
    problems.append(f'the results hold data sets the run was not tested on: {unknown}')
  if results.get('padded_meta_batch'):
    problems.append(f"the results were meta-tested the authors' way, in meta-batches of "
                    f"{results['padded_meta_batch']} padded to their longest support set; the "
                    'export computes every episode on its own rows (give the results of '
                    'taml-evaluate --test_padding=none)')
  if problems:
    raise ValueError('the results do not describe this export: ' + '; '.join(problems))


def training_kind(model: dict) -> str:
  """Which meta-gradient and padding trained a run: the exact ones, or the authors'.

  Args:
    model: config.json's 'model' section (of any version: runs written before the switches
      existed were trained the exact way).
  """
  gradient = model.get('bn_second_order', True)
  padding = model.get('authors_padding', False)
  if gradient and not padding:
    return ('the exact meta-gradient of eq. (8), with padding that changes nothing (the '
            "default; not the authors' training)")
  parts = []
  if not gradient:
    parts.append("the authors' training gradient (`--nobn_second_order`: no second-order "
                 "terms through the inner steps' batch-norm backward, as their TF1 tf.map_fn)")
  else:
    parts.append('the exact meta-gradient of eq. (8)')
  if padding:
    parts.append("the authors' padding (`--authors_padding`: zero images to the meta-batch's "
                 'longest support set, counted by batch norm, the inner-loss normaliser and '
                 'the KL weight)')
  else:
    parts.append('padding that changes nothing')
  return ', with '.join(parts)


def evaluate_command(export_dir: str, run_config: dict, results: dict) -> str:
  """The ``taml-evaluate --saved_model`` command that re-measures `results` from the export.

  The episodes are those of the run's own meta-test: the same data sets, way, shots, queries,
  episode count and seed (``--data_dir`` is left to $TAML_DATA_DIR).
  """
  data = run_config['data']
  episodes = {r['episodes'] for r in results['datasets'].values()}
  flags = [f'--saved_model={export_dir}',
           f"--id_dataset={','.join(data['id_datasets'])}",
           f"--ood_dataset={','.join(data['ood_datasets'])}",
           f"--way={data['way']}", f"--max_shot={data['max_shot']}",
           f"--query={data['query']}", f"--shot_mode={data['shot_mode']}",
           f'--n_test_episodes={max(episodes)}', f"--eval_mode={results['mode']}",
           f"--seed={results['seed']}"]
  if data.get('min_way'):
    flags.append(f"--min_way={data['min_way']}")
  if data.get('rotations'):
    flags.append('--rotations')
  return 'taml-evaluate ' + ' \\\n    '.join(flags)


def evaluate_args(card: str) -> list:
  """The arguments of the ``taml-evaluate`` command a card's text gives (the inverse of
  :func:`evaluate_command`), e.g. to run it from a script.

  Raises:
    ValueError: if the text holds no such command.
  """
  match = re.search(r'```\n(taml-evaluate .*?)```', card, re.S)
  if not match:
    raise ValueError('the model card gives no taml-evaluate command')
  return shlex.split(match.group(1).replace('\\\n', ' '))[1:]


def render(name: str, export_dir: str, run_config: dict, step: int, results: dict,
           notes: typing.Sequence[str] = ()) -> str:
  """The card's markdown.

  Args:
    name: the model's name (the title's first word; e.g. the variant).
    export_dir: where the SavedModel is published, as a user will type it.
    run_config: the run's config.json.
    step: meta-updates behind the exported checkpoint.
    results: taml-evaluate's results.json of that checkpoint, passed by :func:`check` (so its
      inner steps are the export's).
    notes: extra lines (e.g. the commit the run was trained with), as given.

  Returns:
    Markdown text.
  """
  data, model, train = run_config['data'], run_config['model'], run_config['train']
  ids, oods = ', '.join(data['id_datasets']), ', '.join(data['ood_datasets'])
  samples = (f", {results['num_samples']} Monte-Carlo samples" if results['mode'] == 'mc'
             else ', the posterior mean')
  balancing = [v for v in ('omega', 'gamma', 'z') if model.get(f'{v}_on')]
  lines = [
      f'# {name}: {ids} -> {oods}, {step:,} meta-updates', '',
      'A SavedModel written by `taml-export` (signatures in docs/export.md): give it a '
      'support set and query images; it '
      + (f"infers the balancing variables ({', '.join(balancing)}), " if balancing else '')
      + f"adapts the conv4 network with {results['num_steps']} inner steps and returns the "
      'query class probabilities. Loading it needs only TensorFlow.', '',
      f"## Meta-test ({results['num_steps']} inner steps{samples}, seed {results['seed']})", '',
      '| data set | | episodes | accuracy (%) ± 95% CI | NLL | ECE |', '|---|---|---|---|---|---|']
  for dataset, r in results['datasets'].items():
    where = 'in-distribution' if dataset in data['id_datasets'] else 'out-of-distribution'
    lines.append(f"| {dataset} | {where} | {r['episodes']} | "
                 f"{reports.format_number(r['accuracy'], 100)} ± "
                 f"{reports.format_number(r['ci95'], 100)} | "
                 f"{reports.format_number(r['nll'], digits=4)} | "
                 f"{reports.format_number(r['ece'], digits=4)} |")
  way_note = {'mixed': " (the paper's mixed any-shot tasks: half class-imbalanced, half with one "
                      'shot count for all classes)',
              'fixed': ' (all classes the same shots)'}.get(data['shot_mode'],
                                                             f" ({data['shot_mode']} tasks)")
  lines += [
      '', 'The intervals cover the episodes, not the spread between trainings.', '',
      'The full results, per episode, are in results.json beside this card. Re-measure them '
      'from this folder (data from `$TAML_DATA_DIR`, see docs/data.md):', '',
      '```', evaluate_command(export_dir, run_config, results), '```', '',
      '## Training', '',
      f"- Meta-training: {ids}, split `{data['train_split']}`; validation split "
      f"`{data['val_split']}`; meta-test split `{data['test_split']}` in-distribution and "
      f'{oods} out-of-distribution.',
      f"- Tasks: {data['way']}-way, up to {data['max_shot']} shots per class{way_note}, "
      f"{data['query']} queries per class, {data['image_shape'][0]}x{data['image_shape'][1]}"
      f"x{data['image_shape'][2]} images.",
      f"- Budget: {step:,} meta-updates of {train['meta_batch']} tasks, meta learning rate "
      f"{model['meta_lr']:g}, {model['train_inner_steps']} inner steps in training, "
      f"seed {train['seed']}.",
      f'- Meta-gradient and padding: {training_kind(model)}.',
      f"- Network: conv4 with {model['channels']} channels; balancing variables: "
      + (', '.join(balancing) or 'none')
      + (' (posterior means only)' if model.get('deterministic') else '')
      + f"; learned per-parameter inner steps: {'yes' if model.get('alpha_on') else 'no'}.",
  ]
  lines += [f'- {n}' for n in notes]
  # The run folder's and data's paths belong to the machine that trained it.
  shown = {k: {n: v for n, v in section.items() if n not in ('savedir', 'data_dir')}
           if isinstance(section, dict) else section for k, section in run_config.items()}
  lines += ['', f"The run's configuration (config.json without its paths; `num_steps` is the "
            f"budget the run was last started with, this export is its step {step:,}):", '',
            '```json', json.dumps(shown, indent=1, sort_keys=True), '```', '']
  return '\n'.join(lines)


def write(export_dir: str, text: str, results: dict) -> str:
  """Writes the card, and the results it states as results.json (per-episode accuracies
  included, so a re-evaluation can be compared episode by episode), into the export folder,
  each atomically.

  Returns:
    The card's path.
  """
  atomic.write_text(os.path.join(export_dir, RESULTS_FILE), json.dumps(results, indent=1))
  path = os.path.join(export_dir, FILE_NAME)
  atomic.write_text(path, text)
  return path
