"""The inner loop: K gradient steps on a task's support set (the balanced
inner-gradient update of Lee et al., ICLR 2020).

theta_k = theta_{k-1} - step_size * grad(inner loss), with nested ``tf.GradientTape``s so that
an enclosing tape differentiates through every step (second order). Adapted weights are plain
tensors passed to the backbone's functional ``apply``; no variable is ever assigned.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from taml_tf.method import balancing
from taml_tf.method import parameters
from taml_tf.method.models import posteriors

# The balancing variables that act inside each inner step (as keyword arguments of
# :func:`inner_step`); the others act through the step sizes (gamma) or the initialisation (z).
STEP_VARIABLES = ('omega',)


def head_logits(features, head: parameters.Layer):
  """Logits of the dense head: features [B, F] @ kernel [F, W] + bias [W]."""
  return tf.matmul(features, head.kernel) + head.bias


def forward(backbone, params: Sequence[parameters.Layer], images, row_mask, class_mask,
            fused_norm: bool = False, input_moments=None):
  """Masked logits [B, max_way] of `images` under adapted `params` (conv layers, head);
  `fused_norm` and `input_moments` as in the backbone's ``apply``."""
  features = backbone.apply(parameters.conv_layers(params), images, row_mask,
                            fused_norm=fused_norm, input_moments=input_moments)
  return balancing.mask_logits(head_logits(features, parameters.head(params)), class_mask)


def inner_step(backbone, params, steps, images, labels, row_mask, class_mask, omega=None,
               count_mask=None, first_order: bool = False, rows_all_real: bool = False,
               input_moments=None):
  """One balanced inner gradient step ([step], taml_tf.method.learner): Meta-SGD, weighted loss.

  theta' = theta - step * grad_theta L(theta; support), where L is the omega-weighted support
  cross-entropy and `step` the per-parameter alpha * exp(gamma_l).

  Args:
    backbone: a :class:`taml_tf.method.models.backbone.Conv4`.
    params, steps: tuples of Layers (the current parameters and their step sizes).
    images, labels, row_mask, class_mask, omega, count_mask: as in :func:`adapt`.
    first_order: if True, the inner gradient is a constant for enclosing tapes.
    rows_all_real: see :func:`adapt`.
    input_moments: the backbone's ``input_moments`` of `images` for a pass on real rows
      (computed once by :func:`adapt`), or None.

  Returns:
    The updated parameters, structured as `params`.
  """
  flat = tf.nest.flatten(params)
  with tf.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(flat)
    counted = row_mask if count_mask is None else count_mask
    # A first-order step's batch-norm backward is never differentiated, so with every row
    # real it may be TensorFlow's fused kernel (meta-test: a fifth fewer ops).
    logits = forward(backbone, params, images, None if rows_all_real else counted, class_mask,
                     fused_norm=first_order and rows_all_real, input_moments=input_moments)
    loss = balancing.weighted_inner_loss(logits, labels, row_mask, class_mask, omega,
                                         count_mask)
  grads = tape.gradient(loss, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
  if first_order:
    grads = [tf.stop_gradient(g) for g in grads]
  return tf.nest.pack_sequence_as(
      params, [p - s * g for p, s, g in zip(flat, tf.nest.flatten(steps), grads)])


def recomputed(fn):
  """`fn` whose activations an enclosing tape recomputes in the backward pass.

  ``tf.recompute_grad`` cannot wrap an inner step: it runs the forward pass with every tape
  stopped, so the step's own inner ``GradientTape`` records nothing and its gradient is zero.
  This wrapper runs the forward pass normally; in a ``tf.function`` its activations are not
  referenced by the backward graph (the custom gradient replaces theirs), so they are freed,
  and the backward pass runs `fn` again under a fresh tape, inner tape included.

  Args:
    fn: a function of tensors returning a list of float tensors; it may read variables.

  Returns:
    The wrapped function.
  """

  @tf.custom_gradient
  def wrapped(*args):
    outputs = fn(*args)

    def grad(*output_grads, variables=None):
      variables = list(variables or [])
      floats = [i for i, a in enumerate(args) if tf.as_dtype(a.dtype).is_floating]
      with tf.GradientTape(watch_accessed_variables=False) as tape:
        # In a graph nothing else orders the recomputations: without this dependency the
        # runtime may recompute every step's forward pass as soon as the forward pass is done,
        # all of them alive at once, and the memory saved is lost. Waiting for this step's
        # output gradients runs them one at a time, last step first.
        with tf.control_dependencies([g for g in output_grads if g is not None]):
          inputs = [tf.identity(a) for a in args]
        tape.watch([inputs[i] for i in floats] + variables)
        again = fn(*inputs)
      grads = tape.gradient(again, [inputs[i] for i in floats] + variables,
                            output_gradients=list(output_grads),
                            unconnected_gradients=tf.UnconnectedGradients.ZERO)
      by_input = [None] * len(args)
      for i, g in zip(floats, grads):
        by_input[i] = g
      return by_input, grads[len(floats):]

    return outputs, grad

  return wrapped


def adapt(backbone, params: Sequence[parameters.Layer], steps: Sequence[parameters.Layer],
          images, labels, row_mask, class_mask, bal: posteriors.Balancing | None = None,
          num_steps: int = 5,
          first_order: bool = False, recompute: bool = False,
          rows_all_real: bool = False, count_mask=None, input_moments=None) -> tuple:
  """Runs `num_steps` balanced inner steps from `params` (K times [step], taml_tf.method.learner).

  Each step is :func:`inner_step`.

  Args:
    backbone: a :class:`taml_tf.method.models.backbone.Conv4`.
    params: initial (possibly z-modulated) parameters, a tuple of Layers: conv layers, head.
    steps: their step sizes, structured as `params` (see
      :func:`taml_tf.method.balancing.step_sizes`).
    images, labels, row_mask: the support set [S, H, W, C], [S], [S].
    class_mask: [max_way] real classes.
    bal: the task's balancing variables (None: none); those of ``STEP_VARIABLES`` reach every
      :func:`inner_step` (omega: class logits of the weighted inner loss).
    num_steps: a Python int, so each setting traces once.
    first_order: if True, inner gradients are treated as constants by enclosing tapes; with
      `rows_all_real` batch norm then runs as TensorFlow's fused kernel (fewer ops, the same
      values up to float rounding).
    recompute: if True, each step is wrapped in :func:`recomputed`: an enclosing tape keeps
      only the parameters between steps and recomputes a step's activations (and its inner
      gradient) when it differentiates through it. The same meta-gradient with less memory and
      about one more forward-and-inner-backward pass per step.
    rows_all_real: the caller knows every support row is counted (its padding was dropped):
      batch norm then takes plain means instead of masked ones, the same statistics with
      fewer ops. The loss still reads `row_mask`.
    count_mask: [S] the rows that batch norm and the inner-loss normaliser N count, where
      they are not the real rows: the authors' padding counts zero rows
      (``ModelConfig.authors_padding``). None: `row_mask`.
    input_moments: the backbone's ``input_moments`` of `images` for a pass on real rows
      (Conv4.first_block; first- or second-order); None: computed here, once for every step.

  Returns:
    The adapted parameters theta_K, structured as `params` (`params` when num_steps is 0).
  """
  params = tuple(params)
  current = [tf.convert_to_tensor(p) for p in tf.nest.flatten(params)]
  step_list = [tf.convert_to_tensor(s) for s in tf.nest.flatten(tuple(steps))]
  if len(step_list) != len(current):
    raise ValueError(f'steps must be structured as params: {len(step_list)} step sizes for '
                     f'{len(current)} parameters')
  n = len(current)
  bal = bal or posteriors.Balancing()
  optional = {name: getattr(bal, name) for name in STEP_VARIABLES}
  optional['count_mask'] = count_mask
  given = [k for k, v in optional.items() if v is not None]
  data = [images, labels, row_mask, class_mask] + [optional[k] for k in given]
  data = [tf.convert_to_tensor(x) for x in data]
  pack = lambda flat: tf.nest.pack_sequence_as(params, list(flat))
  # The support images are the same in every step: the first block's patch moments (conv1's
  # batch statistics on all-real rows, Conv4.first_block) are computed once, not per step.
  moments = None
  if rows_all_real:
    moments = (backbone.input_moments(data[0], fused_norm=first_order)
               if input_moments is None else input_moments)

  # One flat list of tensors in and out, as tf.custom_gradient (in `recomputed`) needs.
  def step(*args):
    support = args[2 * n:]
    return tf.nest.flatten(inner_step(backbone, pack(args[:n]), pack(args[n:2 * n]),
                                      *support[:4], **dict(zip(given, support[4:])),
                                      first_order=first_order, rows_all_real=rows_all_real,
                                      input_moments=moments))

  if recompute:
    step = recomputed(step)
  for _ in range(num_steps):
    current = list(step(*current, *step_list, *data))
  return pack(current)
