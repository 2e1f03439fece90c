"""Redraws the per-episode shots of meta-test results whose balancing.npz is missing.

Usage (from the repository root):
  python docs/reproduction/study/restore_shots.py [--root ~/taml_runs/omniglot_mnist_study]

Why: taml-compare pairs two evaluations episode by episode only after checking, from their
balancing.npz, that both saw the same tasks (the same shots per class). run_state.sh used to
drop balancing.npz (megabytes of balancing variables per meta-test), so the results restored on
a new machine could not be paired with new ones. The episodes do not depend on the model: every
meta-test draws them from the run's data flags with taml-evaluate's fixed episode seed
(``experiment.evaluation_sets``). This draws them again and, for each results folder without a
balancing.npz, writes a slim one (dataset, episode, way, support_size, query_size, shots, and
``redrawn`` = True) after checking it against the folder's results.json: per data set, the
number of episodes and queries of every task-size bucket and of every class-size bucket must
equal the recorded ones, or nothing is written for that folder.
"""

import argparse
import io
import json
import os

import numpy as np

from taml_tf import atomic
from taml_tf import episodes as episodes_lib
from taml_tf import experiment
from taml_tf import results as results_lib
from taml_tf.experiment import DataConfig


def draw(data: dict, num_episodes: int) -> dict:
  """{data set: [(way, support_size, query_size, shots [way], query shots [Q])]} of the first
  `num_episodes` meta-test episodes taml-evaluate draws for these data flags."""
  out = {}
  for name, dataset in experiment.evaluation_sets(DataConfig(**data), 'test', num_episodes).items():
    rows = []
    for batch in dataset:
      task = episodes_lib.Episode(*[np.asarray(x)[0] for x in batch])
      way = int(task.class_mask.sum())
      support, query = task.support_mask > 0, task.query_mask > 0
      shots = np.bincount(task.support_labels[support], minlength=way)[:way]
      rows.append((way, int(support.sum()), int(query.sum()), shots,
                   shots[task.query_labels[query].astype(np.int64)]))
    out[name] = rows
  return out


def bucket_counts(rows, buckets, task_level: bool) -> list:
  """[(episodes or None, queries)] per bucket: tasks by support size, or queries by the shots
  of their class."""
  counts = []
  for low, high in buckets:
    inside = lambda s: s >= low and (high is None or s <= high)
    if task_level:
      hit = [r for r in rows if inside(r[1])]
      counts.append((len(hit), sum(r[2] for r in hit)))
    else:
      counts.append((None, int(sum(inside(s) for r in rows for s in r[4]))))
  return counts


def recorded_counts(per_dataset: dict, key: str, task_level: bool) -> list:
  return [(b['episodes'] if task_level else None, b['queries']) for b in per_dataset[key]]


def restore(result_dir: str, drawn: dict) -> str:
  with open(os.path.join(result_dir, 'results.json')) as f:
    results = json.load(f)
  names = list(results['datasets'])
  for name in names:
    rec, rows = results['datasets'][name], drawn[name][:results['datasets'][name]['episodes']]
    for key, buckets, task_level in (
        ('by_task_size', results_lib.TASK_SIZE_BUCKETS, True),
        ('by_class_size', results_lib.CLASS_SIZE_BUCKETS, False)):
      mine, theirs = bucket_counts(rows, buckets, task_level), recorded_counts(rec, key, task_level)
      if mine != theirs:
        return f'{result_dir}: NOT restored, {name} {key} {mine} != recorded {theirs}'
  rows = [(name, i, *r[:4]) for name in names
          for i, r in enumerate(drawn[name][:results['datasets'][name]['episodes']])]
  width = max(r[2] for r in rows)
  shots = np.zeros([len(rows), width], np.int64)
  for i, r in enumerate(rows):
    shots[i, :r[2]] = r[5]
  arrays = dict(dataset=np.array([r[0] for r in rows], dtype=str),
                episode=np.array([r[1] for r in rows], np.int64),
                way=np.array([r[2] for r in rows], np.int64),
                support_size=np.array([r[3] for r in rows], np.int64),
                query_size=np.array([r[4] for r in rows], np.int64),
                shots=shots, redrawn=np.array(True))
  path = os.path.join(result_dir, 'balancing.npz')
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  atomic.write_bytes(path, buffer.getvalue())
  return f'{result_dir}: restored ({len(rows)} episodes, counts match results.json)'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', default=os.path.expanduser('~/taml_runs/omniglot_mnist_study'))
  args = parser.parse_args()
  cache = {}
  for run in sorted(os.listdir(args.root)):
    results_root = os.path.join(args.root, run, 'results')
    if not os.path.isdir(results_root):
      continue
    with open(os.path.join(args.root, run, 'config.json')) as f:
      data = json.load(f)['data']
    for sub in sorted(os.listdir(results_root)):
      folder = os.path.join(results_root, sub)
      if (not os.path.isfile(os.path.join(folder, 'results.json'))
          or os.path.isfile(os.path.join(folder, 'balancing.npz'))):
        continue
      with open(os.path.join(folder, 'results.json')) as f:
        episodes = max(d['episodes'] for d in json.load(f)['datasets'].values())
      key = json.dumps(data, sort_keys=True)
      if key not in cache or len(next(iter(cache[key].values()))) < episodes:
        cache[key] = draw(data, episodes)
      print(restore(folder, cache[key]), flush=True)


if __name__ == '__main__':
  main()
