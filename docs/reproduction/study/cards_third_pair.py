"""Rewrites the model cards of the study's third pair (MAML and gamma-TAML, exported by
finals_third_pair.sh) with their notes: the frozen code, the re-measurement of the export, the
Monte-Carlo meta-test (gamma-TAML) and the best checkpoint by the authors' rule. Unlike
cards_second_pair.py, the notes' numbers are read from the files the finals wrote, not typed.
Only MODEL_CARD.md and results.json change; the SavedModels are untouched.

Usage (from the repository root): python docs/reproduction/study/cards_third_pair.py
Env: ROOT, the study's runs (default ~/taml_runs/omniglot_mnist_study); FINALS, the finals'
     folder (default ~/taml_runs/finals3).
"""
import json
import os

from taml_tf.products import model_card

ROOT = os.environ.get('ROOT', os.path.expanduser('~/taml_runs/omniglot_mnist_study'))
FINALS = os.environ.get('FINALS', os.path.expanduser('~/taml_runs/finals3'))
STEP = 10000
DATASETS = ('omniglot', 'mnist')
FROZEN = ('Trained, meta-tested and exported with taml-tf 81b3ddf, the study\'s frozen code '
          '(docs/reproduction.md).')


def load(*parts: str) -> dict:
  with open(os.path.join(*parts, 'results.json')) as f:
    return json.load(f)


def table(results: dict) -> str:
  """'Omniglot 95.17 +- 0.44, MNIST 88.68 +- 0.65' of a results.json."""
  return ', '.join(f'{"Omniglot" if d == "omniglot" else "MNIST"} '
                   f'{100 * results["datasets"][d]["accuracy"]:.2f} +- '
                   f'{100 * results["datasets"][d]["ci95"]:.2f}' for d in DATASETS)


def remeasured(name: str, results: dict) -> str:
  again = load(FINALS, f'remeasure_{name}')
  equal = sum(a == b for d in DATASETS
              for a, b in zip(results['datasets'][d]['episode_accuracy'],
                              again['datasets'][d]['episode_accuracy']))
  total = sum(len(results['datasets'][d]['episode_accuracy']) for d in DATASETS)
  same = ('every one of the' if equal == total else f'{equal:,} of the') + f' {total:,} episodes'
  return (f'Re-measured from this folder with the command above: {table(again)}, {same} equal '
          'to the table\'s.')


def best(name: str) -> str:
  with open(os.path.join(ROOT, name, 'best', 'best.json')) as f:
    step = json.load(f)['step']
  rule = ('by the authors\' rule (the sum of the in- and out-of-distribution validation '
          'accuracies)')
  if step == STEP:
    return f'The checkpoint at {STEP:,} updates, which is also the best-by-validation one {rule}.'
  return (f'The checkpoint at {STEP:,} updates, not the best-by-validation one: {rule} that is '
          f'the one at {step:,} updates.')


def notes(name: str, results: dict) -> list:
  out = [FROZEN, remeasured(name, results)]
  if name == 'gamma_taml':
    mc = load(ROOT, name, 'results', f'step_{STEP}_mc')
    out.append('With 10 Monte-Carlo samples (the paper\'s protocol; `--eval_mode=mc` in the '
               f'command above), measured on this export: {table(mc)} (docs/reproduction.md).')
  return out + [best(name)]


for name in ('maml', 'gamma_taml'):
  export_dir = f'pretrained/omniglot_mnist/{name}'
  with open(os.path.join(ROOT, name, 'config.json')) as f:
    run_config = json.load(f)
  results = load(ROOT, name, 'results', f'step_{STEP}')
  text = model_card.render(name, export_dir, run_config, STEP, results, notes(name, results))
  print(model_card.write(export_dir, text, results))
