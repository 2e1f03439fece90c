"""How the balancing variables act on the inner loop (the balanced inner-gradient
update of Lee et al., ICLR 2020).

* z modulates the initialisation: conv kernels theta * (1 + z_w), conv biases theta + z_b,
  per output channel; the dense head is not modulated.
* omega weights the class losses: sum_c softmax(omega)_c * L_c, where L_c is class c's summed
  cross-entropy times way / N, so uniform weights give the plain mean loss.
* gamma scales each layer's step size: exp(gamma_l) * alpha.

All functions take masks so padding rows and padding classes change nothing.
"""

from __future__ import annotations

from typing import Mapping, Optional

import tensorflow as tf

# Added to the logits of padding classes: their softmax probability is exactly 0 in float32,
# so they receive no gradient and cannot be predicted. A finite value keeps gradients finite.
_ABSENT_CLASS_LOGIT = -1e9


def layer_index(name: str, num_blocks: int) -> int:
  """Index of the layer (conv1..conv{num_blocks}, head) a parameter name belongs to."""
  if name.startswith('head/'):
    return num_blocks
  if name.startswith('conv'):
    return int(name[len('conv'):name.index('/')]) - 1
  raise ValueError(f'parameter {name!r} belongs to no layer')


def modulate_init(params: Mapping[str, tf.Tensor], z: Optional[tf.Tensor], channels: int,
                  num_blocks: int) -> dict:
  """theta_0 = theta (*) z: the task-specific initialisation ([init] in taml_tf.learner).

  Args:
    params: conv{l}/kernel [3, 3, C_in, channels] and conv{l}/bias [channels] (other keys are
      passed through unchanged).
    z: [2 * channels * num_blocks] (multiplicative values first), or None for no modulation.
    channels: output channels of each conv layer.
    num_blocks: number of conv layers.

  Returns:
    A new dict with the modulated parameters.
  """
  out = dict(params)
  if z is None:
    return out
  z_mult, z_add = tf.split(tf.reshape(z, [2, num_blocks, channels]), 2, axis=0)
  for l in range(num_blocks):
    out[f'conv{l + 1}/kernel'] = params[f'conv{l + 1}/kernel'] * (1.0 + z_mult[0, l])
    out[f'conv{l + 1}/bias'] = params[f'conv{l + 1}/bias'] + z_add[0, l]
  return out


def mask_logits(logits, class_mask):
  """Logits [B, max_way] with padding classes pushed to probability zero."""
  return logits + (1.0 - class_mask) * _ABSENT_CLASS_LOGIT


def class_weights(omega: Optional[tf.Tensor], class_mask) -> tf.Tensor:
  """softmax(omega) over the task's real classes; uniform (1 / way) when omega is None."""
  if omega is None:
    return class_mask / tf.reduce_sum(class_mask)
  return tf.nn.softmax(mask_logits(omega, class_mask))


def weighted_inner_loss(logits, labels, row_mask, class_mask, omega=None):
  """The inner loss sum_c softmax(omega)_c * L_c (differentiated in [step], taml_tf.learner).

  Args:
    logits: [B, max_way] (already masked or not; masking is idempotent here).
    labels: [B] int class ids.
    row_mask: [B] 1 for real rows.
    class_mask: [max_way] 1 for real classes.
    omega: [max_way] class logits, or None for uniform weights.

  Returns:
    Scalar loss. With uniform weights it equals the mean cross-entropy over the real rows.
  """
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                      logits=mask_logits(logits, class_mask))
  ce = ce * row_mask
  n = tf.maximum(tf.reduce_sum(row_mask), 1.0)
  way = tf.reduce_sum(class_mask)
  per_class = tf.math.unsorted_segment_sum(ce, labels, tf.shape(class_mask)[0]) * way / n
  return tf.reduce_sum(class_weights(omega, class_mask) * per_class)


def step_sizes(names, base, gamma: Optional[tf.Tensor], num_blocks: int) -> dict:
  """Per-parameter inner step sizes exp(gamma_l) * alpha ([step] in taml_tf.learner).

  Args:
    names: parameter names.
    base: dict name -> alpha tensor (Meta-SGD) or a float (fixed inner learning rate).
    gamma: [num_blocks + 1] log multipliers, or None.
    num_blocks: conv layers (the head is layer num_blocks).

  Returns:
    dict name -> step size broadcastable to the parameter.
  """
  out = {}
  for name in names:
    lr = base[name] if isinstance(base, Mapping) else base
    if gamma is not None:
      lr = lr * tf.exp(gamma[layer_index(name, num_blocks)])
    out[name] = lr
  return out
