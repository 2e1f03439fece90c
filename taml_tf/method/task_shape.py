"""The shape of the tasks a meta-learner meets: the one home of way, max_shot, query, max_way.

The sampler draws tasks of this shape and the model is sized by it (the padded class axis of
``max_way``, the set encoder's count feature normalised by ``max_shot``), so both take it from
one :class:`TaskShape` (:meth:`TaskShape.model_fields`, :meth:`TaskShape.sampler_fields`) and
:func:`check_agree` refuses a model and a task distribution that were built from different
values.
"""

from __future__ import annotations

import dataclasses
import typing

# The paper's Omniglot / MNIST setting (Lee et al., ICLR 2020, section 5): 5-way tasks with 1 to
# 15 shots per class and 15 queries per class.
WAY = 5
MAX_SHOT = 15
QUERY = 15


@dataclasses.dataclass(frozen=True)
class TaskShape:
  """How many classes, shots and queries a task has.

  Attributes:
    way: classes per task (the most, when the sampler's ``min_way`` draws fewer).
    max_shot: the largest support shot per class of the training distribution; the set
      encoder's count feature is (n_c - 1) / (max_shot - 1).
    query: query images per class.
    max_way: the most classes the model allows (the padded class axis); None: `way`.

  Example:

  >>> shape = TaskShape(way=5, max_shot=15, query=15)
  >>> shape.max_way
  5
  """

  way: int = WAY
  max_shot: int = MAX_SHOT
  query: int = QUERY
  max_way: typing.Optional[int] = None

  def __post_init__(self):
    if self.max_way is None:
      object.__setattr__(self, 'max_way', self.way)
    problems = []
    for name in ('way', 'max_shot', 'query'):
      if getattr(self, name) < 1:
        problems.append(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.max_way < max(self.way, 2):
      problems.append(f'max_way={self.max_way} must be >= way={self.way} and >= 2')
    if problems:
      raise ValueError('invalid TaskShape: ' + '; '.join(problems))

  def model_fields(self) -> dict:
    """The ModelConfig fields this shape sets: max_way and max_shot."""
    return {'max_way': self.max_way, 'max_shot': self.max_shot}

  def sampler_fields(self) -> dict:
    """The SamplerConfig fields this shape sets: way, max_shot and query."""
    return {'way': self.way, 'max_shot': self.max_shot, 'query': self.query}


def check_agree(model_config, sampler_config) -> None:
  """Refuses a task distribution the model was not built for.

  Args:
    model_config: a ModelConfig (its max_way and max_shot).
    sampler_config: a SamplerConfig (its way and max_shot).

  Raises:
    ValueError: naming both values, when the sampler's max_shot differs from the model's (the
      set encoder would normalise the shot counts by another value than the tasks have) or
      its way exceeds the model's max_way.
  """
  problems = []
  if sampler_config.max_shot != model_config.max_shot:
    problems.append(f'the sampler draws up to max_shot={sampler_config.max_shot} shots but the '
                    f'model was built for ModelConfig.max_shot={model_config.max_shot}')
  if sampler_config.way > model_config.max_way:
    problems.append(f'the sampler draws way={sampler_config.way} classes but the model allows '
                    f'ModelConfig.max_way={model_config.max_way}')
  if problems:
    raise ValueError('model and tasks disagree: ' + '; '.join(problems) +
                     ' (build both from one TaskShape)')
