"""Gaussian posteriors of the balancing variables and their KL to the N(0, I) prior.

q(omega | D) (one value per class), q(gamma | D) (one per layer) and q(z | D) (per channel,
multiplicative and additive, conv layers only) are fully factorised
``tfp.distributions.Normal``s with scale = softplus(pre_scale) (the amortised variational posterior of Lee et al., ICLR 2020).
Samples are reparameterised (loc + scale * noise) with Philox stateless noise, so they compile
under XLA and the same seed gives the same sample with or without XLA.
"""

from __future__ import annotations

import typing

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# How a value of a balancing variable is drawn: the posterior mean, or one reparameterised
# sample (Monte-Carlo prediction draws several, one per 'sample').
DRAW_MODES = ('mean', 'sample')


class Balancing(typing.NamedTuple):
  """One entry per balancing variable: for one task their values (None where a variable is
  switched off), and in the same structure their posteriors or per-variable settings.

  omega: [max_way] class logits (padding classes are ignored by the masks downstream).
  gamma: [num_layers] log step-size multipliers.
  z: [z_dim] initialisation modulation, first half multiplicative, second half additive.
  """

  omega: typing.Optional[tf.Tensor] = None
  gamma: typing.Optional[tf.Tensor] = None
  z: typing.Optional[tf.Tensor] = None


class Variable(typing.NamedTuple):
  """How the model switches, sizes and infers one balancing variable.

  Attributes:
    switch: the ModelConfig field that turns it on.
    size: the ModelConfig attribute that gives its length (``max_way``, ``num_layers``,
      ``z_dim``; per-class variables have one value per class slot).
    per_class: one value per class: the set encoder's head reads each class's summary (one
      unit per class), the noise has ``max_way`` entries and the KL counts the real classes
      only. Otherwise one vector per task, read from the task summary.
    description: what it balances (the help of its command-line switch).
    recorded_as: the name of its posterior-mean value in the meta-test's per-episode records,
      ``balancing.npz`` and the predictors' outputs.
    recorded_form: how that value is read from the posterior mean (:data:`RECORDED_FORMS`):
      'class_weights' softmax over the task's real classes, 'exp' exp(value) (a multiplier),
      'value' as inferred.
  """

  switch: str
  size: str
  per_class: bool
  description: str
  recorded_as: str
  recorded_form: str


# How a balancing variable's posterior mean is recorded (Variable.recorded_form).
RECORDED_FORMS = ('class_weights', 'exp', 'value')


# The balancing variables, in the order of :class:`Balancing`'s fields: the one table that the
# switches, the set encoder's heads, the noise, the KL and the meta-test's records are computed
# from.
VARIABLES = Balancing(
    omega=Variable('omega_on', 'max_way', True, 'Class-imbalance variable omega',
                   'omega', 'class_weights'),
    gamma=Variable('gamma_on', 'num_layers', False, 'Task-imbalance variable gamma',
                   'exp_gamma', 'exp'),
    z=Variable('z_on', 'z_dim', False, 'Out-of-distribution variable z', 'z', 'value'))


def switched_on(config) -> Balancing:
  """Which balancing variables `config` (a ModelConfig) switches on: a Balancing of bools."""
  return Balancing(*[bool(getattr(config, v.switch)) for v in VARIABLES])


def sizes(config) -> Balancing:
  """The length of each balancing variable under `config` (a ModelConfig)."""
  return Balancing(*[int(getattr(config, v.size)) for v in VARIABLES])


def posterior(loc, pre_scale) -> tfd.Normal:
  """The factorised Gaussian posterior N(loc, softplus(pre_scale)^2)."""
  return tfd.Normal(loc=loc, scale=tf.nn.softplus(pre_scale))


def prior_like(loc) -> tfd.Normal:
  """The N(0, I) prior with the shape of `loc`."""
  return tfd.Normal(loc=tf.zeros_like(loc), scale=tf.ones_like(loc))


def kl_to_prior(dist: tfd.Normal, mask=None) -> tf.Tensor:
  """Closed-form KL(dist || N(0, I)) summed over dimensions where `mask` is 1 (all if None).

  The KL term of [loss, eq. 8] in taml_tf.method.learner (before the division by N + M).
  """
  kl = tfd.kl_divergence(dist, prior_like(dist.loc))
  if mask is not None:
    kl = kl * mask
  return tf.reduce_sum(kl)


def standard_normal(size: int, seed) -> tf.Tensor:
  """[size] standard-normal noise that is bit-identical with and without XLA.

  ``tf.random.stateless_normal`` maps the Philox stream to floats differently in its CPU kernel
  and in XLA, so one seed would give one sample eagerly and another under ``jit_compile`` (or
  on a TPU). The raw Philox integers agree, so the normal is built from them here
  (:func:`normal_from_bits`).
  """
  bits = tf.random.stateless_uniform([size], seed=seed, minval=None, maxval=None,
                                     dtype=tf.uint32, alg='philox')
  return normal_from_bits(bits)


def normal_from_bits(bits) -> tf.Tensor:
  """Standard-normal values from uniform uint32s, by the inverse normal CDF.

  The top 24 bits k give u = (k + 0.5) / 2^24 in (0, 1). The value is ndtri(u), computed on
  the lower tail only: ndtri(p) with p = (min(k, 2^24 - 1 - k) + 0.5) / 2^24 < 0.5, exact in
  float32, negated for the upper half, so no input reaches a float32 value that rounds to 1
  (where erfinv would give inf; docs/bug_history.md).

  Args:
    bits: uint32 tensor of uniform random bits.

  Returns:
    float32 tensor of the same shape, |values| <= 5.42; bits and ~bits give exactly opposite
    values.
  """
  k = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.int32)
  half = 1 << 23
  lower = tf.minimum(k, 2 * half - 1 - k)
  tail = tf.math.ndtri((tf.cast(lower, tf.float32) + 0.5) * (1.0 / (1 << 24)))
  return tf.where(k < half, tail, -tail)


def draw(dist: tfd.Normal, mode: str, seed, noise_size=None) -> tf.Tensor:
  """A value of a balancing variable.

  Args:
    dist: its posterior (a vector).
    mode: one of DRAW_MODES: 'mean' for the posterior mean, 'sample' for one reparameterised
      sample.
    seed: int32 [2] stateless seed (used only when sampling).
    noise_size: if given (>= the length of ``dist``), the standard-normal noise is drawn with
      this static length and its prefix is used. omega uses the model's ``max_way`` here, so a
      task padded to more class slots gets the same omega for its real classes.

  Returns:
    A tensor shaped like ``dist.loc``.
  """
  if mode == 'mean':
    return dist.mean()
  if mode != 'sample':
    raise ValueError(f'mode must be one of {DRAW_MODES}, got {mode!r}')
  length = tf.shape(dist.loc)[0]
  if noise_size is None:
    noise_size = dist.loc.shape[0]
  noise = standard_normal(noise_size, seed)[:length]
  return dist.loc + dist.scale * noise
