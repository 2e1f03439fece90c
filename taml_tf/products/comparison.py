"""One table comparing evaluated runs (e.g. MAML, Meta-SGD and the TAML variants).

Each run is meta-tested by ``taml-evaluate`` on the same seeded episodes, so two runs can be
compared episode by episode: the paired difference of their per-episode accuracies has a far
smaller interval than the two runs' own intervals suggest. :func:`paired_difference` checks that
the episodes really are the same (same support sizes and shots per class, in order) before it
pairs them; a run evaluated on fewer episodes is paired on the common first episodes, which are
the same episodes because every episode is drawn from its own index.

  entries = find_entries('runs/omniglot_mnist_table')
  print(markdown(entries, references=('maml', 'metasgd')))
"""

from __future__ import annotations

import dataclasses
import os
import typing

import numpy as np

from taml_tf.products import calibration
from taml_tf.products import reports

# Table order: the baselines first, then one balancing variable at a time, then all of them.
ORDER = ('maml', 'metasgd', 'omega_taml', 'gamma_taml', 'z_taml', 'deterministic_taml',
         'bayesian_taml')


@dataclasses.dataclass
class Entry:
  """One evaluation of one run.

  Attributes:
    name: the run's folder name (the variant, for the run scripts).
    label: name plus the meta-test mode, e.g. 'bayesian_taml (MC 10)'.
    results: results.json of the evaluation.
    arrays: balancing.npz of the evaluation (per-episode shots, accuracy, ...).
  """

  name: str
  label: str
  results: dict
  arrays: dict

  def episode_accuracy(self, dataset: str) -> np.ndarray:
    """[E] per-episode accuracy (0..1) on `dataset`."""
    return np.asarray(self.results['datasets'][dataset]['episode_accuracy'], np.float64)

  def episode_shots(self, dataset: str) -> np.ndarray:
    """[E, W] support shots per class of each episode of `dataset`."""
    return self.arrays['shots'][self.arrays['dataset'] == dataset]


def _order_key(run: str) -> tuple:
  """Sort key of a run name: :data:`ORDER` first, other names after, by name."""
  return (ORDER.index(run) if run in ORDER else len(ORDER), run)


def _mode_label(results: dict) -> str:
  label = f'MC {results.get("num_samples")}' if results.get('mode') == 'mc' else 'mean'
  if results.get('padded_meta_batch'):
    label += f', padded by {results["padded_meta_batch"]}'
  return label


def load_entry(result_dir: str, name: typing.Optional[str] = None) -> Entry:
  """Reads one evaluation folder (written by ``taml-evaluate``).

  Args:
    result_dir: folder with results.json and balancing.npz.
    name: the run's name; default: the folder above `result_dir`.

  Returns:
    an Entry.

  Raises:
    FileNotFoundError / ValueError: from :func:`reports.read_results`.
  """
  results, arrays = reports.read_results(result_dir)
  name = name or os.path.basename(os.path.dirname(os.path.abspath(result_dir)))
  return Entry(name, f'{name} ({_mode_label(results)})', results, arrays)


def find_entries(root: str, subdirs: typing.Optional[typing.Sequence[str]] = None) -> list:
  """Every evaluation under `root`/<run>/results*/, in :data:`ORDER` (others after, by name).

  Args:
    root: a folder of run folders (as written by launch/experiments/omniglot_mnist_table.sh).
    subdirs: read only these folders of each run instead (e.g. ['results/step_2000'], one
      point of the study's learning curve, or ['results/step_10000', 'results/step_10000_mc']
      for its final protocol: the posterior mean of every run, and Monte-Carlo samples for the
      runs evaluated so); a run is left out where it has none of them.

  Returns:
    list of Entry; for one run, the posterior-mean evaluation before the MC one.

  Raises:
    FileNotFoundError: `root` is missing or holds no evaluated run.
  """
  if isinstance(subdirs, str):
    subdirs = [subdirs]
  if not os.path.isdir(root):
    raise FileNotFoundError(f'{root} is not a folder of runs')
  entries = []
  for run in sorted(os.listdir(root)):
    run_dir = os.path.join(root, run)
    if not os.path.isdir(run_dir):
      continue
    subs = subdirs or sorted(s for s in os.listdir(run_dir) if s.startswith('results'))
    for sub in subs:
      if os.path.isfile(os.path.join(run_dir, sub, 'results.json')):
        entries.append(load_entry(os.path.join(run_dir, sub), run))
  if not entries:
    expected = ' or '.join(f'<run>/{s}/results.json' for s in subdirs or ['results'])
    raise FileNotFoundError(f'no evaluated run under {root} (expected {expected})')
  return sorted(entries, key=lambda e: (*_order_key(e.name), e.results.get('mode') == 'mc'))


def learning_curves(root: str) -> dict:
  """Accuracy against meta-updates of every run under `root`, from <run>/results/step_<N>/.

  Args:
    root: a folder of run folders evaluated at several budgets (as written by
      launch/experiments/omniglot_mnist_study.sh).

  Returns:
    {run: {dataset: [(step, accuracy, ci95), ...] sorted by step}}, runs in :data:`ORDER`.

  Raises:
    FileNotFoundError: `root` is missing or no run has a step_<N> evaluation.
  """
  if not os.path.isdir(root):
    raise FileNotFoundError(f'{root} is not a folder of runs')
  curves = {}
  for run in sorted(os.listdir(root)):
    base = os.path.join(root, run, 'results')
    if not os.path.isdir(base):
      continue
    for sub in os.listdir(base):
      step = sub[len('step_'):]
      if not (sub.startswith('step_') and step.isdigit() and
              os.path.isfile(os.path.join(base, sub, 'results.json'))):
        continue
      results, _ = reports.read_results(os.path.join(base, sub))
      for dataset, r in results['datasets'].items():
        curves.setdefault(run, {}).setdefault(dataset, []).append(
            (int(step), r['accuracy'], r['ci95']))
  if not curves:
    raise FileNotFoundError(f'no <run>/results/step_<N>/results.json under {root}')
  for by_dataset in curves.values():
    for points in by_dataset.values():
      points.sort()
  return {run: curves[run] for run in sorted(curves, key=_order_key)}


def paired_difference(entry: Entry, reference: Entry, dataset: str) -> tuple:
  """Mean per-episode accuracy difference entry - reference and its 95% interval.

  Pairs the common first episodes of the two evaluations (1.96 * std / sqrt(E) of the
  differences, as for the accuracy itself).

  Args:
    entry, reference: evaluations that both include `dataset`.
    dataset: a data set name of results.json.

  Returns:
    (difference, half-width of its 95% interval, episodes paired), accuracies in 0..1.

  Raises:
    ValueError: the two evaluations did not see the same episodes (different seed, data or
      task distribution), which would make a paired difference meaningless.
  """
  a, b = entry.episode_accuracy(dataset), reference.episode_accuracy(dataset)
  n = min(len(a), len(b))
  shots_a, shots_b = entry.episode_shots(dataset)[:n], reference.episode_shots(dataset)[:n]
  if n == 0 or shots_a.shape != shots_b.shape or not np.array_equal(shots_a, shots_b):
    raise ValueError(f'{entry.label} and {reference.label} were not evaluated on the same '
                     f'{dataset} episodes (shots per class differ); evaluate both with the '
                     'same --seed and data flags to compare them episode by episode')
  diff, ci = calibration.accuracy_interval(a[:n] - b[:n])
  return diff, ci, n


def _check_datasets(entries) -> list:
  names = list(entries[0].results['datasets'])
  for e in entries[1:]:
    if list(e.results['datasets']) != names:
      raise ValueError(f'{e.label} was evaluated on {list(e.results["datasets"])}, '
                       f'{entries[0].label} on {names}: compare runs of one experiment')
  return names


def markdown(entries: typing.Sequence[Entry],
             references: typing.Sequence[str] = ('maml', 'metasgd')) -> str:
  """The comparison as markdown: accuracy +- 95% interval, NLL and ECE per data set, then the
  paired accuracy differences of every run against each reference run.

  Args:
    entries: from :func:`find_entries` / :func:`load_entry`, all on the same data sets.
    references: run names to take differences against (their posterior-mean evaluation, or
      their only one); names not among the entries are left out.

  Returns:
    markdown text.

  Raises:
    ValueError: no entries, or entries evaluated on different data sets.
  """
  if not entries:
    raise ValueError('nothing to compare')
  datasets = _check_datasets(entries)
  first = entries[0].results
  lines = [f'Meta-test: {first.get("num_steps")} inner steps, seed {first.get("seed")}; '
           'accuracy in %, 95% interval = 1.96 std / sqrt(episodes); NLL in nats per query; '
           f'ECE over {calibration.NUM_BINS} bins.', '']
  head = ['model', 'meta-test']
  for d in datasets:
    head += [f'{d} episodes', f'{d} accuracy', f'{d} NLL', f'{d} ECE']
  lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for e in entries:
    row = [e.name, _mode_label(e.results)]
    for d in datasets:
      r = e.results['datasets'][d]
      row += [str(r['episodes']), f'{reports.format_number(r["accuracy"], 100)} ± '
              f'{reports.format_number(r["ci95"], 100)}',
              reports.format_number(r['nll'], digits=3),
              reports.format_number(r['ece'], digits=3)]
    lines.append('| ' + ' | '.join(row) + ' |')

  refs = []
  for name in references:
    matches = [e for e in entries if e.name == name]
    if matches:
      refs.append(matches[0])
  for ref in refs:
    lines += ['', f'Paired accuracy difference against {ref.label}, percentage points '
              '(same episodes; 95% interval of the mean difference):', '',
              '| model | ' + ' | '.join(datasets) + ' |', '|---|' + '---|' * len(datasets)]
    for e in entries:
      if e is ref:
        continue
      cells = []
      for d in datasets:
        diff, ci, n = paired_difference(e, ref, d)
        cells.append(f'{100 * diff:+.2f} ± {100 * ci:.2f} ({n} ep.)')
      lines.append(f'| {e.label} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'

