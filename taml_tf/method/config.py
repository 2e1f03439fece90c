"""Frozen configuration of the meta-learner: :class:`ModelConfig` and the paper's variants.

:class:`ModelConfig` is what is computed: the model and its objective, fixed for the life of a
run. How it is run (XLA, task order, padding, steps per host call) is
:class:`taml_tf.execution.execution_config.ExecutionConfig`.

The binaries under ``launch/`` turn absl flags into these dataclasses; library code never reads
flags. Defaults follow the paper and the authors' code (Lee et al., ICLR 2020, section 5 and
appendix; see ``README.md`` for the table of variants).

``VARIANTS`` (``taml_tf.VARIANTS``) maps each variant the paper compares to its switches;
:func:`variant` turns one into a ModelConfig:

>>> import taml_tf
>>> sorted(taml_tf.VARIANTS)
['bayesian_taml', 'deterministic_taml', 'gamma_taml', 'maml', 'metasgd', 'omega_taml', 'z_taml']
>>> taml_tf.VARIANTS['gamma_taml']
{'alpha_on': True, 'omega_on': False, 'gamma_on': True, 'z_on': False}
"""

from __future__ import annotations

import dataclasses
import json

from taml_tf.method import task_shape
from taml_tf.method.models import posteriors


# Fields older versions saved in ModelConfig that are execution settings today
# (execution_config.ExecutionConfig): they never changed the numbers, and are dropped on load.
OLD_EXECUTION_FIELDS = ('jit_compile', 'sequential_tasks')

# The variants the paper compares, as switch settings (alpha, omega, gamma, z, deterministic).
VARIANTS = {
    'maml': dict(alpha_on=False, omega_on=False, gamma_on=False, z_on=False),
    'metasgd': dict(alpha_on=True, omega_on=False, gamma_on=False, z_on=False),
    'omega_taml': dict(alpha_on=True, omega_on=True, gamma_on=False, z_on=False),
    'gamma_taml': dict(alpha_on=True, omega_on=False, gamma_on=True, z_on=False),
    'z_taml': dict(alpha_on=True, omega_on=False, gamma_on=False, z_on=True),
    'deterministic_taml': dict(alpha_on=True, omega_on=True, gamma_on=True, z_on=True,
                               deterministic=True),
    'bayesian_taml': dict(alpha_on=True, omega_on=True, gamma_on=True, z_on=True),
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Everything that defines the meta-learner and its objective.

  Attributes:
    image_shape: (H, W, C) of the input images.
    channels: filters of each conv4 block (32 in the paper).
    num_blocks: conv blocks of the backbone (4 in the paper; fewer only for tiny tests).
    max_way: the most classes a task may have; the model itself does not depend on the way (the
      head is a zero matrix with a shared alpha column), this only bounds the padded class axis.
    max_shot: largest shot of the training distribution; normalises the set encoder's count
      feature (n_c - 1) / (max_shot - 1).
    alpha_on: learn a per-parameter inner step size (Meta-SGD) instead of the fixed `inner_lr`.
    omega_on: class-specific loss weights softmax(omega) in the inner loss (class imbalance).
    gamma_on: per-layer step-size multipliers exp(gamma) (task imbalance).
    z_on: modulate the initialisation, theta * (1 + z_w) and theta + z_b (out-of-distribution).
    deterministic: use the posterior mean of the balancing variables and drop the KL term
      (the paper's "deterministic TAML").
    inner_lr: the fixed inner step size when `alpha_on` is False (MAML).
    alpha_init: initial value of every Meta-SGD step size.
    train_inner_steps: inner steps during meta-training (5).
    test_inner_steps: inner steps at meta-test (10).
    first_order: stop gradients through the inner gradients (first-order MAML approximation).
    n_mc_samples: Monte-Carlo samples averaged in probability at meta-test.
    meta_lr: Adam learning rate of the outer loop.
    grad_clip: outer gradients are clipped by value to [-grad_clip, grad_clip].
    encoder_channels: filters of the set encoder's instance conv net (10).
    encoder_features: width of the instance embedding (64).
    encoder_init: initialiser of the set encoder's instance net: 'authors' (std 0.02, as in
      the authors' code) or 'glorot' (see models/set_encoder.py and docs/reproduction.md).
    bn_epsilon: batch-norm variance epsilon (0.001, as tf.contrib.layers.batch_norm).
    bn_second_order: differentiate the meta-gradient through the inner steps' batch-norm
      backward (True: the exact gradient of eq. 8). False drops those second-order terms, as
      the authors' training did: their main.py builds the meta-batch loss in a TF1
      ``tf.map_fn``, where TensorFlow's gradient of ``FusedBatchNormGrad`` returns None
      (58% of MAML's meta-gradient on the parity fixture, 19% of Meta-SGD's and Bayesian
      TAML's; docs/reproduction.md). Not the method of the paper: an option for comparing
      with the authors' numbers.
    authors_padding: pad every support set of a meta-batch with zero images to the
      meta-batch's longest one and count those rows in batch norm, in the inner-loss
      normaliser N and in the KL weight 1 / (N + M), as the authors' data.py and model.py do
      (their set encoder, and so this one, ignores them). In training, validation and
      meta-test (there in meta-batches of the training meta-batch size). False (default):
      padding changes nothing.

  Example:

  >>> config = ModelConfig(omega_on=False, max_shot=5)        # Bayesian TAML without omega
  >>> variant('maml', max_shot=5).alpha_on                    # or a paper variant
  False
  """

  image_shape: tuple = (28, 28, 1)
  channels: int = 32
  num_blocks: int = 4
  max_way: int = task_shape.WAY
  max_shot: int = task_shape.MAX_SHOT
  alpha_on: bool = True
  omega_on: bool = True
  gamma_on: bool = True
  z_on: bool = True
  deterministic: bool = False
  inner_lr: float = 0.5
  alpha_init: float = 0.01
  train_inner_steps: int = 5
  test_inner_steps: int = 10
  first_order: bool = False
  n_mc_samples: int = 10
  meta_lr: float = 1e-3
  grad_clip: float = 3.0
  encoder_channels: int = 10
  encoder_features: int = 64
  encoder_init: str = 'authors'
  bn_epsilon: float = 1e-3
  bn_second_order: bool = True
  authors_padding: bool = False

  def __post_init__(self):
    object.__setattr__(self, 'image_shape', tuple(int(d) for d in self.image_shape))
    problems = []
    if len(self.image_shape) != 3 or min(self.image_shape) < 1:
      problems.append(f'image_shape must be (H, W, C) with positive sizes, got {self.image_shape}')
    elif min(self.image_shape[:2]) < 2 ** self.num_blocks:
      problems.append(f'image_shape {self.image_shape} is too small for {self.num_blocks} '
                      f'max-pool blocks (needs H, W >= {2 ** self.num_blocks})')
    for name in ('channels', 'num_blocks', 'max_way', 'max_shot', 'n_mc_samples',
                 'encoder_channels', 'encoder_features'):
      if getattr(self, name) < 1:
        problems.append(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.max_way < 2:
      problems.append(f'max_way must be >= 2 (a task needs two classes), got {self.max_way}')
    for name in ('train_inner_steps', 'test_inner_steps'):
      if getattr(self, name) < 0:
        problems.append(f'{name} must be >= 0, got {getattr(self, name)}')
    for name in ('inner_lr', 'alpha_init', 'meta_lr', 'grad_clip', 'bn_epsilon'):
      if not getattr(self, name) > 0:
        problems.append(f'{name} must be > 0, got {getattr(self, name)}')
    if self.encoder_init not in ('authors', 'glorot'):
      problems.append(f"encoder_init must be 'authors' or 'glorot', got {self.encoder_init!r}")
    if self.first_order and not self.bn_second_order:
      problems.append('bn_second_order=False contradicts first_order=True: first_order already '
                      'drops every second-order term')
    if self.deterministic and not self.uses_encoder:
      problems.append('deterministic=True needs at least one of omega_on, gamma_on, z_on')
    if problems:
      raise ValueError('invalid ModelConfig: ' + '; '.join(problems))

  @property
  def uses_encoder(self) -> bool:
    """Whether any balancing variable (and so the set encoder) is switched on."""
    return any(posteriors.switched_on(self))

  @property
  def z_dim(self) -> int:
    """Size of z: a multiplicative and an additive value per channel of each conv layer."""
    return 2 * self.channels * self.num_blocks

  @property
  def num_layers(self) -> int:
    """Layers with their own gamma: the conv blocks and the dense head."""
    return self.num_blocks + 1

  def replace(self, **changes) -> 'ModelConfig':
    """Returns a copy with `changes` applied (validated again)."""
    return dataclasses.replace(self, **changes)

  def to_json(self) -> str:
    """Serialises the configuration (written next to checkpoints)."""
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> 'ModelConfig':
    """Inverse of :meth:`to_json`; unknown keys are an error."""
    return cls.from_dict(json.loads(text))

  @classmethod
  def from_dict(cls, data: dict) -> 'ModelConfig':
    """The ModelConfig of a saved dict (config.json's 'model', model_config.json).

    Fields that moved to :class:`ExecutionConfig` (saved by older versions) are dropped: they
    never changed the numbers. Any other unknown key is an error.
    """
    data = {k: v for k, v in data.items() if k not in OLD_EXECUTION_FIELDS}
    # kl_counts ('real' or 'padded') was removed: 'real' is today's behaviour, and 'padded'
    # divided by way * max_shot + M, which is not the authors' count.
    kl_counts = data.pop('kl_counts', 'real')
    if kl_counts != 'real':
      raise ValueError(f"kl_counts={kl_counts!r} is no longer supported: it divided the KL by "
                       "way * max_shot + M, not by the authors' count (their meta-batch's "
                       "longest support set + M); authors_padding=True computes theirs")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
      raise ValueError(f'unknown ModelConfig fields: {unknown}')
    return cls(**data)


def variant(name: str, **overrides) -> ModelConfig:
  """Returns the ModelConfig of one of the paper's variants.

  Args:
    name: one of ``VARIANTS`` ('maml', 'metasgd', 'omega_taml', 'gamma_taml', 'z_taml',
      'deterministic_taml', 'bayesian_taml').
    **overrides: any other ModelConfig field.

  Returns:
    The validated configuration.

  Raises:
    ValueError: for an unknown variant name.

  Example:

  >>> import taml_tf
  >>> config = taml_tf.variant('metasgd', max_shot=5)     # Meta-SGD, one field overridden
  >>> config.alpha_on, config.omega_on, config.max_shot, config.train_inner_steps
  (True, False, 5, 5)
  >>> taml_tf.variant('meta_sgd')
  Traceback (most recent call last):
  ...
  ValueError: unknown variant 'meta_sgd'; choose one of ['bayesian_taml', ...]
  """
  if name not in VARIANTS:
    raise ValueError(f'unknown variant {name!r}; choose one of {sorted(VARIANTS)}')
  return ModelConfig(**{**VARIANTS[name], **overrides})
