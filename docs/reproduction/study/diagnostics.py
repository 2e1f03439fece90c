"""Diagnostics of the long study's checkpoints: posterior scales, effective inner steps, KL weight.

Usage:
  python docs/reproduction/study/diagnostics.py --root ~/taml_runs/omniglot_mnist_study \
      --steps 500 --episodes 200 --out docs/reproduction/study/diagnostics.md

For every run folder under --root (or those named by --runs) and every step of --steps, restores
the checkpoint saved at that step and, on the first --episodes meta-test episodes of each data
set (drawn as taml-evaluate draws them: seed 1234, bucket padding), measures with
``taml_tf.products.diagnostics.summarize``: the posterior sigma of omega, gamma and z; per layer the
mean alpha, the effective inner step alpha * exp(mu_gamma) at the posterior mean, its mean
under sampling and the 10%-90% range of the sampled multiplier exp(gamma); the KL weight
1 / (N + M) with the real counts; and whether
the set encoder sees the images (the fraction of its conv1 / conv2 ReLU outputs above 0). Run
it with this checkout first on PYTHONPATH when the installed taml_tf is an older one. Nothing is
adapted, so a checkpoint takes seconds. Writes, with several steps, a table per run of how
these move over training, then one markdown section per run and step, and the numbers as JSON
next to it.
"""

import argparse
import json
import os
import shlex
import sys

import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.data.experiment import DataConfig
from taml_tf.execution import run_dir
from taml_tf.method import episodes as episodes_lib
from taml_tf.products import diagnostics


def run_folders(root, names):
  """The run folders to measure: `names` under `root`, or every folder with a config.json."""
  if names:
    return [os.path.join(root, n) for n in names]
  return sorted(os.path.join(root, n) for n in os.listdir(root)
                if os.path.exists(os.path.join(root, n, 'config.json')))


def checkpoint_and_tasks(savedir, step, num_episodes):
  """The learner restored from the checkpoint at `step` of `savedir`, and {data set name: its
  first `num_episodes` meta-test tasks, unbatched}, drawn as taml-evaluate draws them."""
  run = run_dir.load_run_config(savedir)
  data = DataConfig(**run['data'])
  learner, _ = run_dir.restore(savedir, str(step))
  return learner, {
      name: [episodes_lib.Episode(*[x[0] for x in batch]) for batch in dataset]
      for name, dataset in experiment.evaluation_sets(data, 'test', num_episodes).items()}


def measure(savedir, step, num_episodes):
  """{data set name: diagnostics.summarize(...)} of the checkpoint at `step` of `savedir`."""
  learner, tasks = checkpoint_and_tasks(savedir, step, num_episodes)
  return {name: diagnostics.summarize(learner, t) for name, t in tasks.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', required=True)
  parser.add_argument('--runs', nargs='*', default=None)
  parser.add_argument('--steps', nargs='+', type=int, required=True)
  parser.add_argument('--episodes', type=int, default=200)
  parser.add_argument('--out', required=True)
  args = parser.parse_args()
  # Checked before the checkpoints are measured, so a bad --out costs nothing.
  out_dir = os.path.dirname(os.path.abspath(args.out))
  if not os.path.isdir(out_dir):
    parser.error(f'--out: the folder {out_dir} does not exist')
  sections, numbers, by_run = [], {}, {}
  for savedir in run_folders(os.path.expanduser(args.root), args.runs):
    name = os.path.basename(savedir)
    for step in args.steps:
      try:
        result = measure(savedir, step, args.episodes)
      except FileNotFoundError as e:
        print(f'{name}: skipped ({e})')
        continue
      numbers[f'{name}/step_{step}'] = by_run.setdefault(name, {})[step] = result
      for data_name, summary in result.items():
        sections.append(diagnostics.markdown(summary, f'{name}, step {step}, {data_name}'))
      print(f'{name} step {step}: done')
  # Over training: one table per run and data set, a row per step (the posterior barely
  # depends on the data set, so the tables show whether it moves with the budget).
  trajectories = []
  for name, measured in by_run.items():
    if len(measured) > 1:
      for data_name in next(iter(measured.values())):
        trajectories.append(diagnostics.trajectory_markdown(
            {t: r[data_name] for t, r in measured.items()}, f'{name} over training, {data_name}'))
  if trajectories:
    sections = ['## Over training\n'] + trajectories + ['## Each checkpoint\n'] + sections
  # The command as typed, every flag included, so that the file says how to redo it.
  header = ('# Diagnostics of the long study\n\n'
            f'`python {shlex.join(sys.argv)}` (the first {args.episodes} meta-test episodes of '
            'each data set).\n\n')
  with open(args.out, 'w') as f:
    f.write(header + '\n'.join(sections))
  with open(os.path.splitext(args.out)[0] + '.json', 'w') as f:
    json.dump(numbers, f, indent=1)


if __name__ == '__main__':
  tf.get_logger().setLevel('ERROR')
  main()
