"""The parameters the inner loop adapts, as a structure: one (kernel, bias) pair per layer.

theta of Lee et al. (ICLR 2020) is the conv4 backbone's conv layers followed by the dense
head. The balancing variables act per layer in that order (gamma has one value per layer, z
modulates the conv layers), and Meta-SGD's alpha has one entry per parameter entry, so every
per-parameter quantity of the inner loop (the parameters, their step sizes, alpha) is a
tuple of :class:`Layer`\\ s, conv1 .. conv{L}, head. Code that acts per layer indexes the
tuple by position and maps over kernels and biases with ``tf.nest``; names such as
``'conv3/kernel'`` exist only where values are stored (alpha's checkpoint keys, exported
arrays), and are built here, never parsed.
"""

from __future__ import annotations

import typing

HEAD = 'head'


class Layer(typing.NamedTuple):
  """One layer's adaptable parameters (or anything shaped like them: step sizes, alpha)."""

  kernel: typing.Any
  bias: typing.Any


def layer_names(num_blocks: int) -> list:
  """conv1 .. conv{num_blocks}, head: the layers in the order of the structure and gamma."""
  return [f'conv{l + 1}' for l in range(num_blocks)] + [HEAD]


def conv_layers(params: typing.Sequence[Layer]) -> tuple:
  """The conv layers of a full structure (every layer but the head)."""
  return tuple(params[:-1])


def head(params: typing.Sequence[Layer]) -> Layer:
  """The dense head of a full structure (its last layer)."""
  return params[-1]


def to_dict(params: typing.Sequence[Layer]) -> dict:
  """The structure as a flat dict keyed '<layer>/kernel', '<layer>/bias' (for storage).

  Args:
    params: a full structure, conv layers then the head.

  Returns:
    dict name -> value.
  """
  out = {}
  for name, layer in zip(layer_names(len(params) - 1), params):
    out[f'{name}/kernel'] = layer.kernel
    out[f'{name}/bias'] = layer.bias
  return out


def from_dict(values: typing.Mapping[str, typing.Any], num_blocks: int) -> tuple:
  """The structure of a flat dict written by :func:`to_dict`.

  Args:
    values: dict with '<layer>/kernel' and '<layer>/bias' for every layer of
      :func:`layer_names` (other keys are not allowed).
    num_blocks: number of conv layers.

  Returns:
    A tuple of Layers, conv layers then the head.

  Raises:
    ValueError: if a key is missing or unexpected.
  """
  names = layer_names(num_blocks)
  expected = {f'{n}/{part}' for n in names for part in Layer._fields}
  if set(values) != expected:
    missing, extra = sorted(expected - set(values)), sorted(set(values) - expected)
    raise ValueError(f'parameters of {num_blocks} conv layers and a head need the keys '
                     f'{sorted(expected)}; missing {missing}, unexpected {extra}')
  return tuple(Layer(values[f'{n}/kernel'], values[f'{n}/bias']) for n in names)
