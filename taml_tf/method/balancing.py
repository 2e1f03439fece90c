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

from typing import Optional, Sequence

import tensorflow as tf

from taml_tf.method import parameters
from taml_tf.method.models import posteriors

# Added to the logits of padding classes: their softmax probability is exactly 0 in float32,
# so they receive no gradient and cannot be predicted. A finite value keeps gradients finite.
_ABSENT_CLASS_LOGIT = -1e9


def modulate_init(convs: Sequence[parameters.Layer], z: Optional[tf.Tensor]) -> tuple:
  """theta_0 = theta (*) z: the task-specific initialisation ([init] in taml_tf.method.learner).

  Args:
    convs: the conv layers' (kernel [3, 3, C_in, channels], bias [channels]) Layers.
    z: [2 * channels * len(convs)] (multiplicative values first), or None for no modulation.

  Returns:
    A tuple of modulated Layers (`convs` itself when z is None).
  """
  convs = tuple(convs)
  if z is None:
    return convs
  channels = int(convs[0].bias.shape[-1])
  z_mult, z_add = tf.unstack(tf.reshape(z, [2, len(convs), channels]))
  return tuple(parameters.Layer(layer.kernel * (1.0 + z_mult[l]), layer.bias + z_add[l])
               for l, layer in enumerate(convs))


def mask_logits(logits, class_mask):
  """Logits [B, max_way] with padding classes pushed to probability zero."""
  return logits + (1.0 - class_mask) * _ABSENT_CLASS_LOGIT


def class_weights(omega: Optional[tf.Tensor], class_mask) -> tf.Tensor:
  """softmax(omega) over the task's real classes; uniform (1 / way) when omega is None."""
  if omega is None:
    return class_mask / tf.reduce_sum(class_mask)
  return tf.nn.softmax(mask_logits(omega, class_mask))


def recorded_values(bal, class_mask) -> dict:
  """The switched-on balancing variables of one task as the meta-test records them.

  Args:
    bal: a ``posteriors.Balancing`` of values (usually the posterior mean; None where off).
    class_mask: [max_way] the task's real classes.

  Returns:
    {``Variable.recorded_as``: tensor} in the form ``Variable.recorded_form`` says: omega as
    softmax(omega) over the real classes [max_way] (0 on padding classes), gamma as exp(gamma)
    [num_layers], z as inferred [z_dim].
  """
  forms = {'class_weights': lambda v: class_weights(v, class_mask), 'exp': tf.exp,
           'value': tf.identity}
  return {v.recorded_as: forms[v.recorded_form](value)
          for v, value in zip(posteriors.VARIABLES, bal) if value is not None}


def weighted_inner_loss(logits, labels, row_mask, class_mask, omega=None, count_mask=None):
  """The inner loss sum_c softmax(omega)_c * L_c (differentiated in [step], taml_tf.method.learner).

  Args:
    logits: [B, max_way] (already masked or not; masking is idempotent here).
    labels: [B] int class ids.
    row_mask: [B] 1 for real rows.
    class_mask: [max_way] 1 for real classes.
    omega: [max_way] class logits, or None for uniform weights.
    count_mask: [B] the rows the normaliser N counts; None: the real rows. The authors' padding
      (``ModelConfig.authors_padding``) counts zero rows that add no loss.

  Returns:
    Scalar loss. With uniform weights it equals the summed cross-entropy of the real rows
    divided by N (their mean when N counts the real rows).
  """
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                      logits=mask_logits(logits, class_mask))
  ce = ce * row_mask
  n = tf.maximum(tf.reduce_sum(row_mask if count_mask is None else count_mask), 1.0)
  way = tf.reduce_sum(class_mask)
  per_class = tf.math.unsorted_segment_sum(ce, labels, tf.shape(class_mask)[0]) * way / n
  return tf.reduce_sum(class_weights(omega, class_mask) * per_class)


def step_sizes(base, gamma: Optional[tf.Tensor]) -> tuple:
  """Per-parameter inner step sizes exp(gamma_l) * alpha ([step] in taml_tf.method.learner).

  Args:
    base: the step sizes before gamma, a tuple of Layers (conv layers, then the head), each
      entry alpha (Meta-SGD) or the fixed inner learning rate (see
      :func:`fixed_step_sizes`).
    gamma: [len(base)] log multipliers, one per layer in the order of `base`, or None.

  Returns:
    A tuple of Layers of step sizes, each broadcastable to its parameter.
  """
  base = tuple(base)
  if gamma is None:
    return base
  return tuple(tf.nest.map_structure(lambda lr, l=l: lr * tf.exp(gamma[l]), layer)
               for l, layer in enumerate(base))


def fixed_step_sizes(lr: float, num_layers: int) -> tuple:
  """The step-size structure of a fixed inner learning rate (MAML): `lr` for every entry."""
  return tuple(parameters.Layer(lr, lr) for _ in range(num_layers))
