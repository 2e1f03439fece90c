"""Does omega read the images, or only the shot counts? A probe of the study's checkpoints.

Usage:
  python docs/reproduction/study/omega_image_probe.py --root ~/taml_runs/omniglot_mnist_study \
      --runs bayesian_taml bayesian_taml_glorot --step 10000 --episodes 200

On the first --episodes meta-test episodes of each data set (drawn as taml-evaluate draws them),
computes the posterior mean of omega (the class-wise loss weights, Eq. 3 of the paper) and
measures, within each task, how far apart it puts classes with the same number of support
shots. A posterior that depends on the shot counts alone gives such classes the same omega
(spread exactly 0); one that reads the images separates them. Prints, per run and data set, the
mean absolute difference of mu_omega between same-count class pairs, the same for softmax(mu_omega)
x way (1 = a uniform weight), the number of pairs, and for scale the mean absolute difference
between classes of different counts.
"""

import argparse
import itertools
import os
import sys

import numpy as np

from taml_tf.method import episodes as episodes_lib

# diagnostics.py beside this script restores checkpoints and draws the meta-test tasks.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import diagnostics as diagnostics_script  # pylint: disable=g-import-not-at-top,wrong-import-position


def probe(savedir, step, num_episodes):
  """{data set: dict of the pair statistics} for the checkpoint at `step` of `savedir`."""
  learner, tasks = diagnostics_script.checkpoint_and_tasks(savedir, step, num_episodes)
  out = {}
  for name, episodes in tasks.items():
    same, same_w, other = [], [], []
    for episode in episodes:
      task = learner.real_support(episodes_lib.to_tensors(episode))
      dists = learner.posterior(task.support_images, task.support_labels, task.support_mask,
                                task.class_mask)
      real = task.class_mask.numpy() > 0
      mu = dists.omega.loc.numpy()[real]
      weight = np.exp(mu - mu.max())
      weight = weight / weight.sum() * len(mu)
      counts = np.bincount(task.support_labels.numpy(), minlength=len(real))[real]
      for i, j in itertools.combinations(range(len(mu)), 2):
        if counts[i] == counts[j]:
          same.append(abs(mu[i] - mu[j]))
          same_w.append(abs(weight[i] - weight[j]))
        else:
          other.append(abs(mu[i] - mu[j]))
    out[name] = dict(pairs=len(same), same_count_mu=float(np.mean(same)),
                     same_count_weight=float(np.mean(same_w)),
                     max_same_count_mu=float(np.max(same)),
                     other_count_mu=float(np.mean(other)))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', required=True)
  parser.add_argument('--runs', nargs='+', required=True)
  parser.add_argument('--step', type=int, required=True)
  parser.add_argument('--episodes', type=int, default=200)
  args = parser.parse_args()
  print('| run | data set | same-count class pairs | mean abs diff of mu_omega, same count '
        '(max) | of softmax(mu_omega) x way, same count | of mu_omega, different counts |')
  print('|---|---|---|---|---|---|')
  for name in args.runs:
    savedir = os.path.join(os.path.expanduser(args.root), name)
    for dataset, r in probe(savedir, args.step, args.episodes).items():
      print(f"| {name} | {dataset} | {r['pairs']} | {r['same_count_mu']:.4f} "
            f"({r['max_same_count_mu']:.4f}) | {r['same_count_weight']:.4f} | "
            f"{r['other_count_mu']:.4f} |")


if __name__ == '__main__':
  main()
