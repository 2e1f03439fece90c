"""The shape of the tasks a meta-learner meets: the one home of way, max_shot, query, max_way.

The sampler draws tasks of this shape and the model is sized by it (the padded class axis of
``max_way``, the set encoder's count feature normalised by ``max_shot``), so both take it from
one :class:`TaskShape` (:meth:`TaskShape.model_fields`, :meth:`TaskShape.sampler_fields`), every
config and flag that also records them defaults to this module's constants, and
:func:`check_agree` refuses a model and a task distribution built from different values (the
Trainer and TamlModel call it when they are built).
"""

from __future__ import annotations

import dataclasses
import typing

# The defaults of every config and flag that holds these values: 5-way tasks with 1 to 15 shots
# per class (the study's Omniglot / MNIST setting) and the authors' --query default of 5.
WAY = 5
MAX_SHOT = 15
QUERY = 5


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


def check_agree(model_config, way: int, max_shot: int) -> None:
  """Refuses tasks the model was not built for.

  Args:
    model_config: a ModelConfig (its max_way and max_shot).
    way: the classes per task of the task distribution (SamplerConfig.way, DataConfig.way).
    max_shot: its largest shot (SamplerConfig.max_shot, DataConfig.max_shot).

  Raises:
    ValueError: naming both values, when the distribution's max_shot differs from the model's
      (the set encoder would normalise the shot counts by another value than the tasks have)
      or its way exceeds the model's max_way.
  """
  problems = []
  if max_shot != model_config.max_shot:
    problems.append(f'the tasks have up to max_shot={max_shot} shots but the model was built '
                    f'for ModelConfig.max_shot={model_config.max_shot}')
  if way > model_config.max_way:
    problems.append(f'the tasks have way={way} classes but the model allows '
                    f'ModelConfig.max_way={model_config.max_way}')
  if problems:
    raise ValueError('model and tasks disagree: ' + '; '.join(problems) +
                     ' (build both from one TaskShape)')
