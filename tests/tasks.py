"""Small real-data episodes for the model tests."""

from __future__ import annotations

import numpy as np

from taml_tf.method import episodes
from tests import real_data


def omniglot_task(rng: np.random.Generator, shots, queries: int = 2, characters=None,
                  max_way=None, support_size=None, query_size=None, image_size: int = 28):
  """A real Omniglot task with the given per-class shots (unbatched numpy Episode).

  Args:
    rng: picks the characters (unless given) and drawings.
    shots: support examples per class; len(shots) is the way.
    queries: query examples per class.
    characters: optional character indices of the background split.
    max_way, support_size, query_size: padding (default: none).
    image_size: images are cropped/strided to this size (28 keeps them as they are).
  """
  chars = real_data.omniglot_characters('background')
  way = len(shots)
  if characters is None:
    characters = rng.choice(len(chars), way, replace=False)
  si, sl, qi, ql = [], [], [], []
  for c, (char, shot) in enumerate(zip(characters, shots)):
    drawings = rng.permutation(20)
    si.append(chars[char, drawings[:shot]])
    qi.append(chars[char, drawings[shot:shot + queries]])
    sl += [c] * shot
    ql += [c] * queries
  stride = 28 // image_size
  crop = lambda x: np.concatenate(x)[:, ::stride, ::stride][:, :image_size, :image_size]
  return episodes.from_arrays(crop(si), sl, crop(qi), ql, max_way=max_way,
                              support_size=support_size, query_size=query_size)


def batch_of(*eps):
  """A meta-batch of tensors from unbatched numpy episodes."""
  return episodes.to_tensors(episodes.stack(eps))


def flat_gradients(grads):
  """Every gradient entry in one numpy vector, in the order of `grads`."""
  return np.concatenate([np.ravel(g) for g in grads])
