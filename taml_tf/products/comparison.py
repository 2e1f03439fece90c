"""One table comparing evaluated runs (e.g. MAML, Meta-SGD and the TAML variants).

Each run is meta-tested by ``taml-evaluate`` on the same seeded episodes, so two runs can be
compared episode by episode: the paired difference of their per-episode accuracies has a far
smaller interval than the two runs' own intervals suggest. :func:`paired_difference` checks that
the episodes really are the same (same support sizes and shots per class, in order) before it
pairs them; a run evaluated on fewer episodes is paired on the common first episodes, which are
the same episodes because every episode is drawn from its own index.

  entries = find_entries('runs/omniglot_mnist_table')
  print(markdown(entries, references=('maml', 'metasgd')))

Across training seeds (runs <run> for seed 0 and <run>_seed<S> for the others), each
comparison's per-seed paired differences, their mean and a Student-t interval over the seeds:

  rows = seed_rows('runs/study', [('bayesian_taml', 'maml')], seeds=(0, 1, 2),
                   subdirs=['results/step_10000'])
  print(seeds_markdown(rows, (0, 1, 2), ['results/step_10000']))
"""

from __future__ import annotations

import dataclasses
import math
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
    entries.extend(_evaluations(os.path.join(root, run), subdirs).values())
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



# Across seeds: the same comparisons on runs trained with several seeds ------------------------


def seed_run_name(run: str, seed: int) -> str:
  """Folder name of `run` trained with `seed`: the bare name for seed 0, else <run>_seed<S>.

  Args:
    run: the run's seed-0 folder name, e.g. 'bayesian_taml'.
    seed: the training seed (taml-train --seed).

  Returns:
    the folder name under the runs root (as docs/reproduction/study/seeds_training.sh names them).
  """
  return run if seed == 0 else f'{run}_seed{seed}'


def parse_pairs(pairs: typing.Sequence[str]) -> list:
  """Parses comparisons written RUN-REFERENCE (seed-0 run folder names), e.g. 'maml-metasgd'.

  Args:
    pairs: strings 'A-B'.

  Returns:
    list of (A, B) name tuples, in the given order.

  Raises:
    ValueError: a string is not two non-empty, different names joined by one '-'.
  """
  parsed = []
  for pair in pairs:
    names = pair.split('-')
    if len(names) != 2 or not all(names) or names[0] == names[1]:
      raise ValueError(f'comparison {pair!r}: write RUN-REFERENCE with two different run folder '
                       'names (seed 0\'s, without "-"), e.g. bayesian_taml-maml')
    parsed.append(tuple(names))
  if not parsed:
    raise ValueError('no comparison given: name at least one RUN-REFERENCE pair')
  return parsed


def _t_two_sided_mass(t: float, df: int) -> float:
  """P(|T| <= t) for Student's t with integer `df` (Abramowitz & Stegun 26.7.3, closed form).

  A finite series in theta = arctan(t / sqrt(df)) for integer degrees of freedom, which is all
  an interval over seeds needs; no scipy (not a dependency of this package).
  """
  theta = math.atan(t / math.sqrt(df))
  s, c = math.sin(theta), math.cos(theta)
  if df % 2 == 0:
    term, total = 1.0, 1.0
    for k in range(2, df, 2):  # (1 3 .. (k-1)) / (2 4 .. k) cos^k
      term *= (k - 1) / k * c * c
      total += term
    return s * total
  if df == 1:
    return 2 * theta / math.pi
  term, total = c, c
  for k in range(3, df, 2):  # (2 4 .. (k-1)) / (1 3 .. k) cos^k
    term *= (k - 1) / k * c * c
    total += term
  return 2 / math.pi * (theta + s * total)


def t_quantile(p: float, df: int) -> float:
  """Quantile of Student's t distribution, e.g. t_quantile(0.975, 2) = 4.302653.

  Args:
    p: probability in [0.5, 1).
    df: degrees of freedom, a positive integer (seeds - 1).

  Returns:
    t with P(T <= t) = p, to about 1e-12 (bisection on the closed-form distribution).

  Raises:
    ValueError: p outside [0.5, 1) or df not a positive integer.
  """
  if not 0.5 <= p < 1 or int(df) != df or df < 1:
    raise ValueError(f'need 0.5 <= p < 1 and an integer df >= 1, got p={p}, df={df}')
  mass = 2 * p - 1
  if mass == 0:
    return 0.0
  lo, hi = 0.0, 1.0
  while _t_two_sided_mass(hi, int(df)) < mass:
    lo, hi = hi, 2 * hi
  for _ in range(200):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if _t_two_sided_mass(mid, int(df)) < mass else (lo, mid)
    if hi - lo <= 1e-13 * hi:
      break
  return (lo + hi) / 2


def seed_interval(means: typing.Sequence[float]) -> tuple:
  """Mean of per-seed values and the half-width of its Student-t 95% interval over seeds.

  The seeds are the sample: t_{0.975, n-1} * sample std (ddof 1) / sqrt(n).

  Args:
    means: one value per seed (e.g. each seed's paired difference over the episodes).

  Returns:
    (mean, half-width); half-width nan for fewer than two seeds (the interval is undefined),
    mean nan for none.
  """
  x = np.asarray(means, np.float64).reshape(-1)
  if x.size == 0:
    return float('nan'), float('nan')
  if x.size == 1:
    return float(x[0]), float('nan')
  return float(x.mean()), float(t_quantile(0.975, x.size - 1) * x.std(ddof=1) /
                                np.sqrt(x.size))


@dataclasses.dataclass
class SeedRow:
  """One comparison A - B on one data set across seeds.

  Attributes:
    label: e.g. 'bayesian_taml (MC 10) - maml (mean)'.
    dataset: the data set name of results.json.
    per_seed: {seed: (difference, episode 95% half-width, episodes paired), or None where the
      seed is missing}, accuracies in 0..1.
    mean: mean over the available seeds of their differences.
    half_width: Student-t 95% half-width over those seeds (nan for fewer than two).
    same_sign: every available seed's difference has the sign of the others (all > 0 or all
      < 0); None for fewer than two seeds.
    excludes_zero: the t interval excludes 0; None for fewer than two seeds.
  """

  label: str
  dataset: str
  per_seed: dict
  mean: float
  half_width: float
  same_sign: typing.Optional[bool]
  excludes_zero: typing.Optional[bool]

  @property
  def num_seeds(self) -> int:
    """How many seeds the row's mean and interval are over."""
    return sum(v is not None for v in self.per_seed.values())


def _evaluations(run_dir: str, subdirs: typing.Optional[typing.Sequence[str]]) -> dict:
  """{subdir: Entry} of the evaluations of one run folder among `subdirs` (default results*)."""
  if not os.path.isdir(run_dir):
    return {}
  name = os.path.basename(run_dir)
  subs = subdirs or sorted(s for s in os.listdir(run_dir) if s.startswith('results'))
  return {sub: load_entry(os.path.join(run_dir, sub), name) for sub in subs
          if os.path.isfile(os.path.join(run_dir, sub, 'results.json'))}


def find_seed_entries(root: str, runs: typing.Sequence[str], seeds: typing.Sequence[int],
                      subdirs: typing.Optional[typing.Sequence[str]] = None) -> tuple:
  """The evaluations of every run at every seed, and what is missing.

  A run's evaluation folder (one of `subdirs`) counts as missing at a seed where another seed
  of the run has it; a run folder counts as missing at a seed where it has no evaluation at all.

  Args:
    root: folder of run folders: <run> for seed 0, <run>_seed<S> for the others.
    runs: seed-0 run names.
    seeds: training seeds.
    subdirs: evaluation folders of each run (e.g. ['results/step_10000',
      'results/step_10000_mc']); default every <run>/results*.

  Returns:
    ({(run, seed): {subdir: Entry}}, [missing paths, each with what was expected there]).

  Raises:
    FileNotFoundError: `root` is not a folder.
  """
  if isinstance(subdirs, str):
    subdirs = [subdirs]
  if not os.path.isdir(root):
    raise FileNotFoundError(f'{root} is not a folder of runs')
  found, missing = {}, []
  for run in runs:
    for seed in seeds:
      found[run, seed] = _evaluations(os.path.join(root, seed_run_name(run, seed)), subdirs)
    # Keep the order of `subdirs`: the posterior mean (listed first) before Monte-Carlo.
    union = [s for s in subdirs or sorted({s for seed in seeds for s in found[run, seed]})
             if any(s in found[run, seed] for seed in seeds)]
    for seed in seeds:
      folder = os.path.join(root, seed_run_name(run, seed))
      if not found[run, seed]:
        expected = ' or '.join(f'{s}/results.json' for s in union or subdirs or ['results*'])
        state = 'has no evaluation' if os.path.isdir(folder) else 'does not exist'
        missing.append(f'{folder} {state} (expected {expected})')
      else:
        missing += [os.path.join(folder, s, 'results.json') + ' does not exist'
                    for s in union if s not in found[run, seed]]
  return found, missing


def _matching(evaluations: dict, mode: str) -> typing.Optional[str]:
  """The subdir of the reference's evaluation to pair with a `mode` one: the same meta-test
  mode where the reference has it (Monte-Carlo against Monte-Carlo), else its posterior mean,
  else its first."""
  for wanted in (mode, 'mean'):
    for sub, e in evaluations.items():
      if e.results.get('mode', 'mean') == wanted:
        return sub
  return next(iter(evaluations), None)


def seed_rows(root: str, pairs: typing.Sequence[tuple], seeds: typing.Sequence[int],
              subdirs: typing.Optional[typing.Sequence[str]] = None,
              allow_missing: bool = False) -> list:
  """Paired differences A - B of every comparison, data set and seed, with their mean and
  Student-t interval over seeds.

  Each of A's evaluations (each of `subdirs` it has) makes one comparison, paired with B's
  evaluation of the same meta-test mode where B has one (else B's posterior mean); per seed,
  A and B are paired on the same episodes (:func:`paired_difference`).

  Args:
    root: folder of run folders: <run> for seed 0, <run>_seed<S> for the others.
    pairs: (A, B) seed-0 run names, e.g. from :func:`parse_pairs`.
    seeds: training seeds, e.g. (0, 1, 2).
    subdirs: evaluation folders of each run; default every <run>/results*.
    allow_missing: leave missing seeds out of a row (its cell None) instead of raising.

  Returns:
    list of SeedRow: per comparison, per evaluation of A, per data set.

  Raises:
    FileNotFoundError: `root` is missing, or (unless `allow_missing`) a run folder or
      evaluation is missing at some seed; the message lists every missing path.
    ValueError: no seeds, runs evaluated on different data sets, on different episodes within a
      seed, or with different meta-test protocols across seeds.
  """
  seeds = list(seeds)
  if not seeds or len(set(seeds)) != len(seeds):
    raise ValueError(f'need distinct seeds, got {seeds}')
  runs = list(dict.fromkeys(name for pair in pairs for name in pair))
  found, missing = find_seed_entries(root, runs, seeds, subdirs)
  if missing and not allow_missing:
    raise FileNotFoundError('missing at some seeds (train and evaluate them, or allow a partial '
                            'table):\n  ' + '\n  '.join(missing))
  everything = [e for evals in found.values() for e in evals.values()]
  if not everything:
    raise FileNotFoundError(f'no evaluation of {runs} at seeds {seeds} under {root}')
  datasets = _check_datasets(everything)
  rows = []
  for a, b in pairs:
    subs_a = list(dict.fromkeys(s for seed in seeds for s in found[a, seed]))
    for sub_a in subs_a:
      per_seed, labels = {}, {}
      for seed in seeds:
        entry = found[a, seed].get(sub_a)
        sub_b = None if entry is None else _matching(found[b, seed],
                                                     entry.results.get('mode', 'mean'))
        if sub_b is None:
          per_seed[seed] = None
          continue
        reference = found[b, seed][sub_b]
        label = (f'{a} ({_mode_label(entry.results)}) - '
                 f'{b} ({_mode_label(reference.results)})')
        labels[seed] = label
        per_seed[seed] = reference
      if len(set(labels.values())) > 1:
        raise ValueError('the seeds were meta-tested differently: ' +
                         '; '.join(f'seed {s}: {l}' for s, l in labels.items()))
      label = next(iter(labels.values()), f'{a} ({sub_a}) - {b}')
      for d in datasets:
        diffs = {s: (None if per_seed[s] is None else
                     paired_difference(found[a, s][sub_a], per_seed[s], d)) for s in seeds}
        values = [v[0] for v in diffs.values() if v is not None]
        mean, half = seed_interval(values)
        enough = len(values) >= 2
        rows.append(SeedRow(
            label, d, diffs, mean, half,
            same_sign=(all(v > 0 for v in values) or all(v < 0 for v in values))
            if enough else None,
            excludes_zero=(abs(mean) > half) if enough else None))
  return rows


def _yes_no(flag: typing.Optional[bool]) -> str:
  return 'n/a' if flag is None else ('yes' if flag else 'no')


def seeds_markdown(rows: typing.Sequence[SeedRow], seeds: typing.Sequence[int],
                   subdirs: typing.Optional[typing.Sequence[str]] = None) -> str:
  """The across-seed table as markdown, percentage points.

  Args:
    rows: from :func:`seed_rows`.
    seeds: the seeds asked for (one column each).
    subdirs: the evaluation folders compared, for the caption.

  Returns:
    markdown text: a caption saying how each interval is computed, then one table row per
    comparison and data set.
  """
  seeds = list(seeds)
  where = f' ({", ".join(subdirs)})' if subdirs else ''
  lines = [f'Paired accuracy difference A - B across training seeds {", ".join(map(str, seeds))}'
           f'{where}, percentage points. Per seed: A and B on the same episodes, mean difference '
           '± its 95% interval over the episodes (1.96 std / sqrt(episodes)). Mean over seeds ± '
           'a Student-t 95% interval over the seeds\' paired means (t quantile 0.975 with '
           'seeds - 1 degrees of freedom times the sample std / sqrt(seeds); n/a with one '
           'seed). All seeds are meta-tested on the same episodes, so this interval spreads '
           'with the training seed; the per-seed columns carry the episodes\' own. '
           '"missing": that seed\'s run or evaluation was not found (left out of the mean).', '']
  head = (['comparison', 'data set'] + [f'seed {s}' for s in seeds] +
          ['seeds', 'mean over seeds ± t 95%', 'same sign on all seeds',
           't interval excludes 0'])
  lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for r in rows:
    cells = [r.label, r.dataset]
    for s in seeds:
      v = r.per_seed.get(s)
      cells.append('missing' if v is None else f'{100 * v[0]:+.2f} ± {100 * v[1]:.2f} '
                   f'({v[2]} ep.)')
    if r.num_seeds == 0:
      total = 'n/a'
    elif math.isfinite(r.half_width):
      total = f'{100 * r.mean:+.2f} ± {100 * r.half_width:.2f}'
    else:
      total = f'{100 * r.mean:+.2f} ± n/a'
    cells += [str(r.num_seeds), total, _yes_no(r.same_sign), _yes_no(r.excludes_zero)]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
