"""Gaussian posteriors of the balancing variables and their KL to the N(0, I) prior.

q(omega | D) (one value per class), q(gamma | D) (one per layer) and q(z | D) (per channel,
multiplicative and additive, conv layers only) are fully factorised
``tfp.distributions.Normal``s with scale = softplus(pre_scale) (Lee et al., ICLR 2020, eq. 5-7).
Samples are reparameterised and drawn from stateless seeds, so they compile under XLA and the
same seed gives the same sample.
"""

from __future__ import annotations

import typing

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

NAMES = ('omega', 'gamma', 'z')


class Balancing(typing.NamedTuple):
  """Values of the balancing variables for one task (None where a variable is switched off).

  omega: [max_way] class logits (padding classes are ignored by the masks downstream).
  gamma: [num_layers] log step-size multipliers.
  z: [z_dim] initialisation modulation, first half multiplicative, second half additive.
  """

  omega: typing.Optional[tf.Tensor] = None
  gamma: typing.Optional[tf.Tensor] = None
  z: typing.Optional[tf.Tensor] = None


def posterior(loc, pre_scale) -> tfd.Normal:
  """The factorised Gaussian posterior N(loc, softplus(pre_scale)^2)."""
  return tfd.Normal(loc=loc, scale=tf.nn.softplus(pre_scale))


def prior_like(loc) -> tfd.Normal:
  """The N(0, I) prior with the shape of `loc`."""
  return tfd.Normal(loc=tf.zeros_like(loc), scale=tf.ones_like(loc))


def kl_to_prior(dist: tfd.Normal, mask=None) -> tf.Tensor:
  """Closed-form KL(dist || N(0, I)) summed over dimensions where `mask` is 1 (all if None)."""
  kl = tfd.kl_divergence(dist, prior_like(dist.loc))
  if mask is not None:
    kl = kl * mask
  return tf.reduce_sum(kl)


def draw(dist: tfd.Normal, mode: str, seed) -> tf.Tensor:
  """A value of a balancing variable.

  Args:
    dist: its posterior.
    mode: 'mean' for the posterior mean, 'sample' (or 'mc') for one reparameterised sample.
    seed: int32 [2] stateless seed (used only when sampling).

  Returns:
    A tensor shaped like ``dist.loc``.
  """
  if mode == 'mean':
    return dist.mean()
  return dist.sample(seed=seed)
