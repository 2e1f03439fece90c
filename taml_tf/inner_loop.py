"""The inner loop: K gradient steps on a task's support set (the balanced
inner-gradient update of Lee et al., ICLR 2020).

theta_k = theta_{k-1} - step_size * grad(inner loss), with nested ``tf.GradientTape``s so that
an enclosing tape differentiates through every step (second order). Adapted weights are plain
tensors passed to the backbone's functional ``apply``; no variable is ever assigned.
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf

from taml_tf import balancing


def head_logits(features, params):
  """Logits of the dense head: features [B, F] @ head/kernel [F, W] + head/bias [W]."""
  return tf.matmul(features, params['head/kernel']) + params['head/bias']


def forward(backbone, params: Mapping[str, tf.Tensor], images, row_mask, class_mask):
  """Masked logits [B, max_way] of `images` under adapted `params`."""
  features = backbone.apply(params, images, row_mask)
  return balancing.mask_logits(head_logits(features, params), class_mask)


def adapt(backbone, params: Mapping[str, tf.Tensor], steps: Mapping[str, tf.Tensor],
          images, labels, row_mask, class_mask, omega=None, num_steps: int = 5,
          first_order: bool = False) -> dict:
  """Runs `num_steps` inner gradient steps from `params` (K times [step], taml_tf.learner).

  Args:
    backbone: a :class:`taml_tf.models.backbone.Conv4`.
    params: initial (possibly z-modulated) conv and head tensors.
    steps: per-parameter step sizes (see :func:`taml_tf.balancing.step_sizes`).
    images, labels, row_mask: the support set [S, H, W, C], [S], [S].
    class_mask: [max_way] real classes.
    omega: class logits for the weighted inner loss, or None.
    num_steps: a Python int, so each setting traces once.
    first_order: if True, inner gradients are treated as constants by enclosing tapes.

  Returns:
    The adapted parameters theta_K (a new dict); `params` itself when num_steps is 0.
  """
  params = dict(params)
  names = sorted(params)
  for _ in range(num_steps):
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([params[k] for k in names])
      logits = forward(backbone, params, images, row_mask, class_mask)
      loss = balancing.weighted_inner_loss(logits, labels, row_mask, class_mask, omega)
    grads = tape.gradient(loss, [params[k] for k in names],
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    for k, g in zip(names, grads):
      if first_order:
        g = tf.stop_gradient(g)
      params[k] = params[k] - steps[k] * g
  return params
