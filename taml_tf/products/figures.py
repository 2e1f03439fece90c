"""The paper's figures from a trained run (PNG, matplotlib).

* gamma per layer against task size, including sizes beyond the training range (the paper's
  "tendency" figure: larger tasks get larger gamma for conv2..conv4);
* omega against class size within class-imbalanced tasks (small classes get larger weights);
* how far z moves the initialisation for in- vs out-of-distribution tasks;
* reliability diagrams of several runs (e.g. MAML vs Bayesian TAML);
* training curves from the TensorBoard logs;
* meta-test accuracy against meta-updates, one line per run (the long study's learning curve).
"""

from __future__ import annotations

import glob
import os
import typing

import matplotlib

matplotlib.use('Agg')  # files only; no display on servers
import matplotlib.ticker  # pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from taml_tf.execution import run_dir  # pylint: disable=g-import-not-at-top,wrong-import-position
from taml_tf.method import episodes  # pylint: disable=g-import-not-at-top,wrong-import-position
from taml_tf.method import parameters  # pylint: disable=g-import-not-at-top,wrong-import-position


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = path + '.tmp.png'
  fig.savefig(tmp, dpi=120, bbox_inches='tight')
  plt.close(fig)
  os.replace(tmp, path)
  return path


def gamma_tendency(learner, source, shots: typing.Sequence[int], way: int, tasks: int = 20,
                   seed: int = 0) -> np.ndarray:
  """Posterior-mean exp(gamma) per layer for tasks of `way` classes with `k` shots each.

  Args:
    learner: a MetaLearner with gamma_on.
    source: ClassImages to draw classes and images from.
    shots: shots per class to probe (may exceed the training max_shot).
    way: classes per task.
    tasks: tasks averaged per size.
    seed: numpy seed.

  Returns:
    [len(shots), num_layers] mean exp(gamma).
  """
  rng = np.random.default_rng(seed)
  infer = tf.function(lambda t: learner.posterior_mean(
      t.support_images, t.support_labels, t.support_mask, t.class_mask).gamma)
  out = []
  for k in shots:
    values = []
    for _ in range(tasks):
      classes = rng.choice(source.num_classes, way, replace=False)
      images, labels = [], []
      for c, cls in enumerate(classes):
        pool = source.class_images(int(cls))
        idx = rng.choice(len(pool), min(k, len(pool)), replace=False)
        images.append(pool[idx])
        labels += [c] * len(idx)
      ep = episodes.from_arrays(np.concatenate(images), labels, np.concatenate(images)[:way],
                                np.arange(way), max_way=learner.config.max_way)
      values.append(np.exp(infer(episodes.to_tensors(ep)).numpy()))
    out.append(np.mean(values, 0))
  return np.array(out)


def plot_gamma_tendency(shots, gamma, max_shot: int, way: int, path: str) -> str:
  """Line plot of exp(gamma) per layer against task size (support examples)."""
  fig, ax = plt.subplots(figsize=(5, 3.5))
  sizes = np.asarray(shots) * way
  for layer, name in enumerate(parameters.layer_names(gamma.shape[1] - 1)):
    ax.plot(sizes, gamma[:, layer], marker='o', label=name)
  ax.axvline(max_shot * way, color='grey', linestyle='--', linewidth=1)
  ax.text(max_shot * way, ax.get_ylim()[1], ' training max', va='top', fontsize=8)
  ax.set_xscale('log')
  ax.set_xticks(sizes)
  ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
  ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  # A multiplier: the head's (about 10) would flatten the conv layers' (about 1) on a linear
  # axis, and equal ratios should look equal.
  ax.set_yscale('log')
  ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
  ax.set_xlabel('task size (support examples)')
  ax.set_ylabel('exp(gamma) (posterior mean, log scale)')
  ax.legend(fontsize=8)
  return _save(fig, path)


def _omega_by_class(arrays: dict) -> tuple:
  """(class shots, omega x way) of every class of the class-imbalanced tasks in `arrays`.

  A task whose classes all have the same shot has uniform omega by symmetry, so only tasks with
  unequal classes show how omega balances them; x way makes 1 the uniform weight.
  """
  shots, omega, way = arrays['shots'], arrays['omega'], arrays['way']
  xs, ys = [], []
  for i in range(len(way)):
    s, o = shots[i, :way[i]], omega[i, :way[i]]
    if s.min() != s.max():
      xs.append(s)
      ys.append(o * way[i])
  if not xs:
    return np.zeros(0, np.int64), np.zeros(0, np.float64)
  return np.concatenate(xs), np.concatenate(ys)


def balancing_summary(arrays: dict, ood: typing.Sequence[str],
                      shots: typing.Optional[typing.Sequence[int]] = None,
                      gamma: typing.Optional[np.ndarray] = None, way: int = 0) -> dict:
  """The numbers behind the balancing figures, for tables that compare checkpoints.

  Args:
    arrays: balancing.npz of a taml-evaluate run (needs 'omega' and/or 'z_relative_change').
    ood: the out-of-distribution data sets' names.
    shots, gamma, way: the gamma tendency probe (:func:`gamma_tendency`'s shots, its result and
      the way), or None when gamma is off.

  Returns:
    A JSON-ready dict: 'omega_by_class_size' ({shot: mean omega x way, 1 = uniform, over the
    classes with that shot in class-imbalanced tasks; empty without such tasks}),
    'z_relative_change' ({dataset: mean ||theta (*) z - theta|| / ||theta|| and whether it
    is OOD}), 'gamma_tendency' (task sizes,
    layer names and the mean exp(gamma) per size and layer); keys whose variable is off are
    absent.
  """
  summary = {}
  if 'omega' in arrays:
    xs, ys = _omega_by_class(arrays)
    summary['omega_by_class_size'] = {int(s): float(ys[xs == s].mean()) for s in np.unique(xs)}
  if 'z_relative_change' in arrays:
    summary['z_relative_change'] = {
        str(name): {'mean': float(arrays['z_relative_change'][arrays['dataset'] == name].mean()),
                    'ood': bool(name in ood)}
        for name in np.unique(arrays['dataset'])}
  if gamma is not None:
    gamma = np.asarray(gamma)
    summary['gamma_tendency'] = {
        'task_sizes': [int(k) * way for k in shots], 'layers': parameters.layer_names(gamma.shape[1] - 1),
        'exp_gamma': gamma.tolist()}
  return summary


def plot_omega_vs_class_size(arrays: dict, path: str) -> str:
  """omega (softmax weight) against the class's shot, within class-imbalanced tasks."""
  xs, ys = _omega_by_class(arrays)
  if not xs.size:
    raise ValueError('no class-imbalanced task in the evaluation: omega against class size '
                     'needs tasks whose classes have different shots')
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.scatter(xs, ys, s=6, alpha=0.3)
  for s in np.unique(xs):
    ax.plot(s, ys[xs == s].mean(), 'r_', markersize=12)
  ax.axhline(1.0, color='grey', linewidth=1)
  ax.set_xlabel('class size (support shots)')
  ax.set_ylabel('omega weight x way (1 = uniform)')
  return _save(fig, path)


def plot_z_shift(arrays: dict, ood: typing.Sequence[str], path: str) -> str:
  """Histograms of ||theta (*) z - theta|| / ||theta|| per data set, ID vs OOD."""
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for name in np.unique(arrays['dataset']):
    values = arrays['z_relative_change'][arrays['dataset'] == name]
    kind = 'OOD' if name in ood else 'ID'
    ax.hist(values, bins=30, alpha=0.5, label=f'{name} ({kind}), mean {values.mean():.3f}')
  ax.set_xlabel('relative change of the initialisation by z')
  ax.set_ylabel('tasks')
  ax.legend(fontsize=8)
  return _save(fig, path)


def plot_reliability(results: typing.Mapping[str, dict], dataset: str, path: str) -> str:
  """Reliability diagrams (accuracy vs confidence) of several runs on one data set."""
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  ax.plot([0, 1], [0, 1], color='grey', linestyle='--', linewidth=1)
  for label, result in results.items():
    r = result['datasets'][dataset]
    rel = r['reliability']
    conf = np.array([np.nan if v is None else v for v in rel['confidence']], float)
    acc = np.array([np.nan if v is None else v for v in rel['accuracy']], float)
    ok = np.isfinite(conf) & np.isfinite(acc)
    ax.plot(conf[ok], acc[ok], marker='o', label=f"{label} (ECE {r['ece']:.3f})")
  ax.set_xlabel('confidence')
  ax.set_ylabel('accuracy')
  ax.set_title(dataset)
  ax.legend(fontsize=8)
  return _save(fig, path)


def read_scalars(logdir: str) -> dict:
  """tag -> (steps, values) from the TensorBoard event files under `logdir`, steps ascending.

  A resumed run logs again the steps after its last checkpoint; for a step logged more than
  once the latest write (by wall time) is kept, so a curve never runs back in time.
  """
  latest = {}
  for path in sorted(glob.glob(os.path.join(logdir, 'events.out.tfevents.*'))):
    # Public, and TF2's one reader of event files (tf.summary only writes them).
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        number = tf.make_ndarray(value.tensor) if value.HasField('tensor') else value.simple_value
        if np.ndim(number) == 0:
          by_step = latest.setdefault(value.tag, {})
          if event.step not in by_step or event.wall_time >= by_step[event.step][0]:
            by_step[event.step] = (event.wall_time, float(number))
  return {tag: ([step for step in sorted(by_step)], [by_step[step][1] for step in sorted(by_step)])
          for tag, by_step in latest.items()}


def plot_training_curves(savedir: str, path: str) -> str:
  """Training loss / accuracy and validation accuracy against the step."""
  train = read_scalars(run_dir.logs_dir(savedir, 'train'))
  val = read_scalars(run_dir.logs_dir(savedir, 'validation'))
  fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
  for tag in ('loss', 'cross_entropy'):
    if tag in train:
      a.plot(*train[tag], label=tag)
  a.set_xlabel('step')
  a.legend(fontsize=8)
  if 'accuracy' in train:
    b.plot(*train['accuracy'], label='train (query)')
  for tag, (steps, values) in val.items():
    if tag.endswith('/accuracy'):
      b.plot(steps, values, marker='o', label='validation ' + tag.split('/')[0])
  b.set_xlabel('step')
  b.set_ylabel('accuracy')
  b.legend(fontsize=8)
  return _save(fig, path)


# Run-name suffixes of the trainings the long study compares, and their line styles: the
# authors' training (both switches), the gradient switch alone, the padding switch alone.
TRAINING_STYLES = {'_authors': '--', '_gradient': ':', '_padding': '-.'}


def _run_style(run: str) -> tuple:
  """(the run's base name, its line style): runs of one variant share a colour."""
  for suffix, style in TRAINING_STYLES.items():
    if run.endswith(suffix):
      return run[:-len(suffix)], style
  return run, '-'


def plot_learning_curves(curves: typing.Mapping[str, dict], path: str) -> str:
  """Meta-test accuracy against meta-updates: one panel per data set, one line per run.

  A variant's runs of other trainings (names ending in a :data:`TRAINING_STYLES` suffix, e.g.
  ``maml_authors``) take the colour of the variant and their own line style, so both trainings
  read in one figure.

  Args:
    curves: {run: {dataset: [(step, accuracy, ci95), ...]}}, as
      :func:`taml_tf.products.comparison.learning_curves` returns.
    path: the PNG to write.

  Returns:
    `path`.
  """
  datasets = sorted({d for by_dataset in curves.values() for d in by_dataset})
  fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
  bases = list(dict.fromkeys(_run_style(run)[0] for run in curves))
  colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
  for ax, dataset in zip(axes[0], datasets):
    for run, by_dataset in curves.items():
      if dataset not in by_dataset:
        continue
      base, style = _run_style(run)
      steps, acc, ci = (np.asarray(v, np.float64) for v in zip(*by_dataset[dataset]))
      ax.errorbar(steps, 100 * acc, yerr=100 * ci, marker='o', capsize=3, label=run,
                  linestyle=style, color=colours[bases.index(base) % len(colours)])
    ax.set_xscale('log')
    ax.set_xlabel('meta-updates')
    ax.set_ylabel('accuracy (%)')
    ax.set_title(dataset)
    ax.grid(alpha=0.3)
  axes[0][-1].legend(fontsize=8)
  return _save(fig, path)
