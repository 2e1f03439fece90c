"""Meta-test reports: results.json, results.md and balancing.npz, written and read back.

:func:`write_results` writes an :class:`~taml_tf.products.results.EvaluationResult` (each file
atomically); :func:`read_results` reads the files back for comparisons and figures.
"""

from __future__ import annotations

import io
import json
import math
import os
import typing
import zipfile

import numpy as np

from taml_tf.execution import atomic
from taml_tf.method.models import posteriors
from taml_tf.products.results import EvaluationResult
from taml_tf.products.results import TaskRecord


def balancing_arrays(records: typing.Sequence[TaskRecord]) -> dict:
  """The per-task records as equal-length arrays (one row per episode), for ``balancing.npz``.

  Args:
    records: TaskRecords.

  Returns:
    dict of numpy arrays: dataset [E] (str), episode, way, support_size, query_size [E] int,
    shots [E, W] int (W = the largest way; 0 beyond a task's way), accuracy, nll [E]; and for
    the variables that were recorded: omega [E, W] (0 beyond the way; rows sum to 1),
    exp_gamma [E, num_layers], z [E, z_dim], z_norm [E], z_kernel_change [E, num_blocks],
    z_relative_change [E], z_bias_shift [E].
  """
  e = len(records)
  width = max([r.way for r in records], default=0)

  def padded(values, dtype):
    out = np.zeros([e, width], dtype)
    for i, v in enumerate(values):
      out[i, :len(v)] = v
    return out

  arrays = dict(
      dataset=np.array([r.dataset for r in records], dtype=str),
      episode=np.array([r.episode for r in records], np.int64),
      way=np.array([r.way for r in records], np.int64),
      support_size=np.array([r.support_size for r in records], np.int64),
      query_size=np.array([r.query_size for r in records], np.int64),
      shots=padded([r.shots for r in records], np.int64),
      accuracy=np.array([r.accuracy for r in records], np.float64),
      nll=np.array([r.nll for r in records], np.float64))
  for variable in posteriors.VARIABLES:
    values = [r.variable(variable.recorded_as) for r in records]
    if records and values[0] is not None:
      arrays[variable.recorded_as] = (padded(values, np.float32) if variable.per_class else
                                      np.stack(values).astype(np.float32))
  if records and records[0].z is not None:
    arrays['z_kernel_change'] = np.stack([r.z_kernel_change for r in records])
    for k in ('z_norm', 'z_relative_change', 'z_bias_shift'):
      arrays[k] = np.array([getattr(r, k) for r in records], np.float64)
  return arrays


def format_number(x, scale=1.0, digits=2) -> str:
  """`scale * x` with `digits` decimals, 'n/a' for None or a non-finite value."""
  return 'n/a' if x is None or not math.isfinite(x) else f'{scale * x:.{digits}f}'


def markdown(result: EvaluationResult) -> str:
  """The results as markdown: the main table, then the task-size and class-size splits."""
  samples = f', {result.num_samples} samples' if result.mode == 'mc' else ''
  if result.padded_meta_batch:
    samples += f', support sets padded in meta-batches of {result.padded_meta_batch}'
  lines = [f'# Meta-test ({result.mode}{samples}, {result.num_steps} inner steps, '
           f'seed {result.seed})', '',
           '| data set | episodes | accuracy (%) ± 95% CI | NLL | ECE |',
           '|---|---|---|---|---|']
  for name, r in result.datasets.items():
    lines.append(f'| {name} | {r.episodes} | {format_number(r.accuracy, 100)} ± '
                 f'{format_number(r.ci95, 100)} | {format_number(r.nll, digits=4)} | '
                 f'{format_number(r.ece, digits=4)} |')
  for title, attr, unit in (('task size (real support examples)', 'by_task_size', 'episodes'),
                            ('class size (support shots of the query\'s class)',
                             'by_class_size', 'queries')):
    lines += ['', f'## Accuracy by {title}', '',
              f'| data set | bucket | {unit} | accuracy (%) ± 95% CI | NLL |',
              '|---|---|---|---|---|']
    for name, r in result.datasets.items():
      for row in getattr(r, attr):
        count = getattr(row, unit)
        if not count:
          continue
        lines.append(f'| {name} | {row.bucket} | {count} | {format_number(row.accuracy, 100)} ± '
                     f'{format_number(row.ci95, 100)} | {format_number(row.nll, digits=4)} |')
  return '\n'.join(lines) + '\n'


def write_results(result: EvaluationResult, out_dir: str) -> dict:
  """Writes results.json, results.md and balancing.npz into `out_dir` (created if needed).

  Each file is written to a temporary file in `out_dir` and renamed, so a reader never sees a
  half-written file.

  Args:
    result: from :func:`taml_tf.products.evaluation.evaluate`.
    out_dir: output folder.

  Returns:
    dict 'json' / 'markdown' / 'balancing' -> path written.
  """
  os.makedirs(out_dir, exist_ok=True)
  paths = {'json': os.path.join(out_dir, 'results.json'),
           'markdown': os.path.join(out_dir, 'results.md'),
           'balancing': os.path.join(out_dir, 'balancing.npz')}
  text = json.dumps(result.to_dict(), indent=2, allow_nan=False) + '\n'
  atomic.write_bytes(paths['json'], text.encode())
  atomic.write_bytes(paths['markdown'], markdown(result).encode())
  buffer = io.BytesIO()
  np.savez(buffer, **balancing_arrays(result.records))
  atomic.write_bytes(paths['balancing'], buffer.getvalue())
  return paths


def read_results(result_dir: str) -> tuple:
  """Reads back what :func:`write_results` wrote.

  Args:
    result_dir: the folder holding ``results.json`` and ``balancing.npz``.

  Returns:
    (results.json as a dict, balancing.npz as a dict of numpy arrays).

  Raises:
    FileNotFoundError: a file is missing (the run was not evaluated).
    ValueError: a file is not valid JSON / npz or lacks the per-data-set results.
  """
  paths = [os.path.join(result_dir, n) for n in ('results.json', 'balancing.npz')]
  for path in paths:
    if not os.path.isfile(path):
      raise FileNotFoundError(f'{path} does not exist (evaluate the run with taml-evaluate)')
  try:
    with open(paths[0]) as f:
      results = json.load(f)
    with np.load(paths[1]) as d:
      arrays = {k: d[k] for k in d.files}
  except (ValueError, OSError, zipfile.BadZipFile) as e:
    raise ValueError(f'corrupt evaluation results in {result_dir}: {e}') from e
  if not isinstance(results, dict) or not isinstance(results.get('datasets'), dict):
    raise ValueError(f'{paths[0]} has no "datasets" entry: not a taml-evaluate results file')
  return results, arrays
