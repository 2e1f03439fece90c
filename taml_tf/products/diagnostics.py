"""Training diagnostics of a meta-learner: how wide its posteriors are, how large its inner steps.

Measures, on a set of episodes, what the balancing variables of Lee et al. (ICLR 2020) do to the
update theta_k = theta_{k-1} - exp(gamma_l) * alpha * grad(sum_c softmax(omega)_c L_c):

* the posterior scales sigma of omega (real classes), gamma (per layer) and z;
* per layer, the mean Meta-SGD step size alpha (or the fixed inner learning rate), the effective
  step at the posterior mean alpha * exp(mu_gamma), its mean under sampling
  alpha * E[exp(gamma)] = alpha * exp(mu + sigma^2 / 2), and the 10%-90% range of the sampled
  multiplier exp(mu +- 1.2816 sigma);
* the KL weight 1 / (N + M) of the objective with the real counts (the paper), as
  :meth:`taml_tf.method.learner.MetaLearner.kl_rows` counts them (the authors' padded count depends on
  the meta-batch a task is drawn in: ``ModelConfig.authors_padding``).

* whether the set encoder sees the images at all: the fraction of the instance net's conv1 and
  conv2 ReLU outputs that are positive on the real support rows, and how much its image
  features vary between rows (their standard deviation across rows, averaged over features).
  Both zero means a posterior that depends on shot counts only.

The fraction of clipped outer-gradient entries is logged during training instead
(``clip_fraction``, see :meth:`taml_tf.method.meta_update.MetaUpdate.apply_gradients`).
"""

from __future__ import annotations

import typing

import numpy as np

from taml_tf.method import episodes as episodes_lib
from taml_tf.method import parameters

# exp(mu +- Z_90 * sigma) are the 10% and 90% quantiles of a log-normal exp(gamma).
Z_90 = 1.2815515655446004


def mean_step_sizes(learner) -> np.ndarray:
  """Per layer, the mean inner step size before gamma: mean alpha over the layer's kernel and
  bias entries (Meta-SGD), or the fixed inner learning rate (MAML)."""
  c = learner.config
  if not c.alpha_on:
    return np.full([c.num_layers], c.inner_lr, np.float64)
  return np.asarray([np.mean(np.concatenate([np.ravel(v.numpy()) for v in layer]))
                     for layer in learner.alpha_params()], np.float64)


def episode_diagnostics(learner, task: episodes_lib.Episode) -> dict:
  """Diagnostics of one (unbatched) task.

  Args:
    learner: a MetaLearner.
    task: an unbatched Episode (numpy or tensors).

  Returns:
    dict of numpy values: 'kl_weight_real', and where switched on
    'sigma_omega' (mean over real classes), 'mu_gamma' / 'sigma_gamma' [num_layers],
    'sigma_z' (mean over dimensions); with a set encoder 'encoder_active' (per instance conv
    layer, the fraction of its ReLU outputs above 0 on real support rows) and
    'encoder_feature_spread' (the instance features' std across real rows, mean over features).
  """
  task = episodes_lib.to_tensors(task)
  out = {'kl_weight_real': 1.0 / float(learner.kl_rows(task))}
  c = learner.config
  task = learner.real_support(task)
  dists = learner.posterior(task.support_images, task.support_labels, task.support_mask,
                            task.class_mask)
  if c.omega_on:
    mask = task.class_mask.numpy() > 0
    out['sigma_omega'] = float(np.mean(dists.omega.scale.numpy()[mask]))
  if c.gamma_on:
    out['mu_gamma'] = dists.gamma.loc.numpy().astype(np.float64)
    out['sigma_gamma'] = dists.gamma.scale.numpy().astype(np.float64)
  if c.z_on:
    out['sigma_z'] = float(np.mean(dists.z.scale.numpy()))
  if learner.encoder is not None:
    rows = task.support_mask.numpy() > 0
    relus, features = learner.encoder.instance_activations(task.support_images)
    out['encoder_active'] = np.asarray([np.mean(r.numpy()[rows] > 0) for r in relus],
                                       np.float64)
    out['encoder_feature_spread'] = float(np.mean(np.std(
        np.asarray(features, np.float64)[rows], axis=0)))
  return out


def summarize(learner, tasks: typing.Iterable[episodes_lib.Episode]) -> dict:
  """Averages :func:`episode_diagnostics` over `tasks` and adds the per-layer step sizes.

  Args:
    learner: a MetaLearner.
    tasks: unbatched Episodes.

  Returns:
    A JSON-ready dict: 'episodes', 'layers', 'alpha' (per-layer mean step before gamma), the
    means of the per-episode values, and with gamma on 'effective_step_at_mean' (alpha *
    exp(mu_gamma)), 'effective_step_sampled_mean' (alpha * exp(mu + sigma^2 / 2)) and
    'multiplier_p10' / 'multiplier_p90' (quantiles of the sampled exp(gamma)), all per layer
    and averaged over episodes.

  Raises:
    ValueError: if `tasks` is empty.
  """
  rows = [episode_diagnostics(learner, t) for t in tasks]
  if not rows:
    raise ValueError('summarize needs at least one task')
  c = learner.config
  alpha = mean_step_sizes(learner)
  out = {'episodes': len(rows), 'layers': parameters.layer_names(c.num_blocks),
         'alpha': alpha.tolist()}
  for key in rows[0]:
    out[key] = np.mean([np.asarray(r[key]) for r in rows], axis=0).tolist()
  if c.gamma_on:
    mu = np.stack([r['mu_gamma'] for r in rows])
    sigma = np.stack([r['sigma_gamma'] for r in rows])
    out['effective_step_at_mean'] = (alpha * np.exp(mu)).mean(0).tolist()
    out['effective_step_sampled_mean'] = (alpha * np.exp(mu + sigma ** 2 / 2)).mean(0).tolist()
    out['multiplier_p10'] = np.exp(mu - Z_90 * sigma).mean(0).tolist()
    out['multiplier_p90'] = np.exp(mu + Z_90 * sigma).mean(0).tolist()
  return out


def markdown(summary: dict, title: str = 'diagnostics') -> str:
  """A short markdown report of :func:`summarize`'s output."""
  lines = [f'### {title} ({summary["episodes"]} episodes)', '']
  scalars = [k for k in ('sigma_omega', 'sigma_z', 'kl_weight_real',
                        'encoder_feature_spread') if k in summary]
  for k in scalars:
    lines.append(f'- {k}: {summary[k]:.4g}')
  if 'encoder_active' in summary:
    lines.append('- encoder_active (conv1, conv2): '
                 + ', '.join(f'{v:.4g}' for v in summary['encoder_active']))
  per_layer = [k for k in ('alpha', 'mu_gamma', 'sigma_gamma', 'effective_step_at_mean',
                           'effective_step_sampled_mean', 'multiplier_p10', 'multiplier_p90')
               if k in summary]
  lines += ['', '| per layer | ' + ' | '.join(summary['layers']) + ' |',
            '|---|' + '---|' * len(summary['layers'])]
  for k in per_layer:
    lines.append(f'| {k} | ' + ' | '.join(f'{v:.4g}' for v in summary[k]) + ' |')
  return '\n'.join(lines) + '\n'


def trajectory_markdown(summaries: typing.Mapping[int, dict], title: str) -> str:
  """How one run's posterior and inner steps move over training, one row per checkpoint.

  Args:
    summaries: training step -> :func:`summarize` output of that step's checkpoint.
    title: the table's heading.

  Returns:
    Markdown: per step, sigma of omega and z, sigma of gamma per layer, alpha averaged over
    the conv layers and the head's, the effective inner step alpha * exp(mu_gamma) (at the
    posterior mean and under sampling) averaged over the conv layers, and the head's, and the
    fraction of the set encoder's conv2 ReLU outputs that are positive. Columns a run lacks (a
    deterministic or Meta-SGD run has no sigma) are left out.
  """
  if not summaries:
    raise ValueError('no summaries: measure at least one checkpoint')
  steps = sorted(summaries)
  layers = summaries[steps[0]]['layers']
  conv = [i for i, name in enumerate(layers) if name != 'head']
  head = layers.index('head') if 'head' in layers else None
  columns = [('sigma omega', lambda s: s.get('sigma_omega')),
             ('sigma z', lambda s: s.get('sigma_z'))]
  for i, name in enumerate(layers):
    columns.append((f'sigma gamma {name}',
                    lambda s, i=i: s['sigma_gamma'][i] if 'sigma_gamma' in s else None))
  conv_mean = lambda key: (lambda s: float(np.mean([s[key][i] for i in conv]))
                           if key in s else None)
  columns.append(('alpha, conv mean', conv_mean('alpha')))
  if head is not None:
    columns.append(('alpha, head', lambda s: s['alpha'][head] if 'alpha' in s else None))
  columns += [('effective conv step, at mean', conv_mean('effective_step_at_mean')),
              ('effective conv step, sampled', conv_mean('effective_step_sampled_mean'))]
  if head is not None:
    columns.append(('effective head step', lambda s: s['effective_step_at_mean'][head]
                    if 'effective_step_at_mean' in s else None))
  columns.append(('encoder conv2 active', lambda s: s['encoder_active'][-1]
                  if 'encoder_active' in s else None))
  columns = [(name, get) for name, get in columns
             if any(get(summaries[t]) is not None for t in steps)]
  lines = [f'### {title}', '', '| step | ' + ' | '.join(n for n, _ in columns) + ' |',
           '|---|' + '---|' * len(columns)]
  for t in steps:
    cells = [get(summaries[t]) for _, get in columns]
    lines.append(f'| {t} | ' + ' | '.join('-' if v is None else f'{v:.3g}' for v in cells)
                 + ' |')
  return '\n'.join(lines) + '\n'
