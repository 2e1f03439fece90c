"""Redraws the per-episode shots of meta-test results whose balancing.npz is missing, and slims
balancing.npz files to those shots.

Usage (from the repository root):
  python docs/reproduction/study/restore_shots.py [--root ~/taml_runs/omniglot_mnist_study]
  python docs/reproduction/study/restore_shots.py --slim FILE [FILE ...]   (run_state.sh save)

Why: taml-compare pairs two evaluations episode by episode only after checking, from their
balancing.npz, that both saw the same tasks (the same shots per class). run_state.sh used to
drop balancing.npz (megabytes of balancing variables per meta-test), so the results restored on
a new machine could not be paired with new ones; it now keeps the slim version written by
--slim. The episodes do not depend on the model: every meta-test draws them from the run's data
flags with taml-evaluate's fixed episode seed (``experiment.evaluation_sets``). This draws them
again and, for each results folder without a balancing.npz, writes a slim one (the per-episode
columns of :data:`SLIM_KEYS`, in taml-evaluate's layout, with ``redrawn`` = True) after checking
it against the folder's results.json: per data set, the number of episodes and queries of every
task-size bucket and of every class-size bucket must equal the recorded ones, or nothing is
written for that folder.
"""

import argparse
import io
import json
import math
import os

import numpy as np

from taml_tf.data import experiment
from taml_tf.data.experiment import DataConfig
from taml_tf.execution import atomic
from taml_tf.method import episodes as episodes_lib
from taml_tf.products import reports
from taml_tf.products import results as results_lib

# What taml-compare needs to check that two meta-tests saw the same episodes.
SLIM_KEYS = ('dataset', 'episode', 'way', 'support_size', 'query_size', 'shots', 'redrawn')


def write_slim(path: str, arrays: dict) -> None:
  """Writes the :data:`SLIM_KEYS` of `arrays` to `path` as a compressed npz, atomically."""
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **{k: v for k, v in arrays.items() if k in SLIM_KEYS})
  atomic.write_bytes(path, buffer.getvalue())


def draw(data: dict, num_episodes: int) -> dict:
  """{data set: [(support_size, query_size, shots [way], query shots [Q])]} of the first
  `num_episodes` meta-test episodes taml-evaluate draws for these data flags."""
  out = {}
  for name, dataset in experiment.evaluation_sets(DataConfig(**data), 'test', num_episodes).items():
    rows = []
    for batch in dataset:
      task = episodes_lib.Episode(*[np.asarray(x)[0] for x in batch])
      way = int(task.class_mask.sum())
      support, query = task.support_mask > 0, task.query_mask > 0
      shots = np.bincount(task.support_labels[support], minlength=way)[:way]
      rows.append((int(support.sum()), int(query.sum()), shots,
                   shots[task.query_labels[query].astype(np.int64)]))
    out[name] = rows
  return out


def bucket_counts(rows) -> dict:
  """{'by_task_size': [(episodes, queries)], 'by_class_size': [queries]} per bucket, as
  results.json counts them: tasks by support size, queries by the shots of their class."""
  task = [results_lib.bucket_index(r[0], results_lib.TASK_SIZE_BUCKETS) for r in rows]
  query = [results_lib.bucket_index(s, results_lib.CLASS_SIZE_BUCKETS) for r in rows for s in r[3]]
  return {
      'by_task_size': [(task.count(b), sum(r[1] for r, t in zip(rows, task) if t == b))
                       for b in range(len(results_lib.TASK_SIZE_BUCKETS))],
      'by_class_size': [query.count(b) for b in range(len(results_lib.CLASS_SIZE_BUCKETS))]}


def restore(result_dir: str, results: dict, drawn: dict) -> str:
  """Writes result_dir/balancing.npz from the drawn episodes if they are the recorded ones."""
  records = []
  for name, recorded in results['datasets'].items():
    rows = drawn[name][:recorded['episodes']]
    mine, theirs = bucket_counts(rows), {
        'by_task_size': [(b['episodes'], b['queries']) for b in recorded['by_task_size']],
        'by_class_size': [b['queries'] for b in recorded['by_class_size']]}
    if mine != theirs:
      return f'{result_dir}: NOT restored, {name} {mine} != recorded {theirs}'
    records += [results_lib.TaskRecord(
        dataset=name, episode=i, way=len(shots), support_size=n, query_size=m, shots=shots,
        accuracy=accuracy, nll=math.nan)
                for i, ((n, m, shots, _), accuracy) in enumerate(
                    zip(rows, recorded['episode_accuracy']))]
  write_slim(os.path.join(result_dir, 'balancing.npz'),
             dict(reports.balancing_arrays(records), redrawn=np.array(True)))
  return f'{result_dir}: restored ({len(records)} episodes, counts match results.json)'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default=os.path.expanduser('~/taml_runs/omniglot_mnist_study'))
  parser.add_argument('--slim', nargs='+', metavar='FILE',
                      help='slim these balancing.npz files in place instead')
  args = parser.parse_args()
  if args.slim:
    for path in args.slim:
      with np.load(path) as d:
        write_slim(path, {k: d[k] for k in d.files})
    return
  cache = {}
  for run in sorted(os.listdir(args.root)):
    results_root = os.path.join(args.root, run, 'results')
    if not os.path.isdir(results_root):
      continue
    with open(os.path.join(args.root, run, 'config.json')) as f:
      data = json.load(f)['data']
    key = json.dumps(data, sort_keys=True)
    for sub in sorted(os.listdir(results_root)):
      folder = os.path.join(results_root, sub)
      if (not os.path.isfile(os.path.join(folder, 'results.json'))
          or os.path.isfile(os.path.join(folder, 'balancing.npz'))):
        continue
      with open(os.path.join(folder, 'results.json')) as f:
        results = json.load(f)
      episodes = max(d['episodes'] for d in results['datasets'].values())
      if key not in cache or len(next(iter(cache[key].values()))) < episodes:
        cache[key] = draw(data, episodes)
      print(restore(folder, results, cache[key]), flush=True)


if __name__ == '__main__':
  main()
