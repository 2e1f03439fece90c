"""How the meta-learner is run: :class:`ExecutionConfig`, the execution section of config.json.

Everything here may change when a run resumes (another machine, XLA, a TPU): none of it changes
the numbers beyond float rounding. What is computed is :class:`taml_tf.method.config.ModelConfig`.
"""

from __future__ import annotations

import dataclasses
import typing

from taml_tf.data.sampler import PAD_MODES
from taml_tf.method import config
from taml_tf.method.learner import MetaLearner
from taml_tf.method import meta_update
from taml_tf.method.meta_update import MetaUpdate
from taml_tf.method.precision import PRECISIONS


# The ExecutionConfig fields that older versions saved in another section of config.json.
MOVED_TO_EXECUTION = {'model': config.OLD_EXECUTION_FIELDS, 'data': ('pad_to',),
                      'train': ('steps_per_call',)}


@dataclasses.dataclass(frozen=True)
class ExecutionConfig:
  """How the meta-learner is run: none of it changes the numbers beyond float rounding
  (bfloat16 rounding with ``precision='mixed_bfloat16'``).

  Every field may differ when a run resumes (another machine, XLA switched on, a TPU): the
  checkpointed variables are the same. This is the one place where the padding of training
  batches is decided.

  Attributes:
    jit_compile: compile the per-replica meta-gradient with XLA.
    sequential_tasks: differentiate the tasks of a meta-batch one after another and average
      their gradients: the same update up to float rounding, with less peak memory, but slower
      where one graph for the whole meta-batch lets the runtime overlap the tasks
      (measurements: docs/performance.md).
    static_shapes: keep the padded support rows of each task (masked, so the result is the
      same) instead of dropping them: XLA and TPU programs need static shapes, and the TF
      profiler needs them to count FLOPs. Always true with `jit_compile`.
    pad_to: support padding of training batches: 'max' (way * max_shot rows, fixed shapes) or
      'bucket' (the smallest of a few sizes that holds the batch: fewer padded rows). None:
      'max' with `static_shapes`, else 'bucket'.
    steps_per_call: meta-updates per host call (several amortise host overhead; TPUs).
    precision: 'float32', or 'mixed_bfloat16': the convolutions and matmuls of the backbone
      and the set encoder in bfloat16, everything else (variables, adapted parameters and
      their inner updates, batch-norm statistics, losses, KL, posteriors) in float32
      (taml_tf.method.precision). Fast only where bfloat16 has hardware (TPUs, recent GPUs, CPUs with
      AMX or AVX512_BF16).
    recompute: recompute each inner step's activations in the backward pass instead of keeping
      them (inner_loop.recomputed): less peak memory, one more forward pass per inner step.

  Example:

  >>> execution = ExecutionConfig(jit_compile=True)           # XLA: static shapes, pad 'max'
  >>> execution.pad_to
  'max'
  """

  jit_compile: bool = False
  sequential_tasks: bool = False
  static_shapes: bool = False
  pad_to: typing.Optional[str] = None
  steps_per_call: int = 1
  precision: str = 'float32'
  recompute: bool = False

  def __post_init__(self):
    static = meta_update.uses_static_shapes(self.jit_compile, self.static_shapes)
    object.__setattr__(self, 'static_shapes', static)
    if self.pad_to is None:
      object.__setattr__(self, 'pad_to', 'max' if static else 'bucket')
    problems = []
    if self.pad_to not in PAD_MODES:
      problems.append(f'pad_to must be one of {PAD_MODES}, got {self.pad_to!r}')
    elif self.pad_to == 'bucket' and static:
      problems.append("pad_to='bucket' contradicts static shapes (jit_compile or a TPU): XLA "
                      "and TPUs need fixed shapes (use pad_to='max')")
    if self.steps_per_call < 1:
      problems.append(f'steps_per_call must be >= 1, got {self.steps_per_call}')
    if self.precision not in PRECISIONS:
      problems.append(f'precision must be one of {PRECISIONS}, got {self.precision!r}')
    if problems:
      raise ValueError('invalid ExecutionConfig: ' + '; '.join(problems))

  @property
  def pooling(self) -> str:
    """The backbone's max pooling (Conv4's `pooling`): 'elementwise' with static shapes (XLA and
    TPUs, whose MaxPoolGradGrad picks maxima by bfloat16-rounded inputs and so gets the
    second-order gradient wrong), else TensorFlow's faster 'kernel'."""
    return 'elementwise' if self.static_shapes else 'kernel'

  def replace(self, **changes) -> 'ExecutionConfig':
    """Returns a copy with `changes` applied (validated again)."""
    return dataclasses.replace(self, **changes)

  def build_learner(self, model_config: config.ModelConfig) -> MetaLearner:
    """A MetaLearner of `model_config` run this way (precision, recompute, pooling).

    With :meth:`build`, the one place where execution settings reach the method.
    """
    return MetaLearner(model_config, precision=self.precision, recompute=self.recompute,
                       pooling=self.pooling)

  def build(self, model_config: config.ModelConfig) -> tuple:
    """(MetaLearner, MetaUpdate) of `model_config`, run this way.

    Call it inside a distribution strategy's scope to distribute the variables.

    Example:

    >>> learner, update = ExecutionConfig(jit_compile=True).build(variant('maml'))
    """
    learner = self.build_learner(model_config)
    update = MetaUpdate(learner, jit_compile=self.jit_compile,
                        sequential_tasks=self.sequential_tasks, static_shapes=self.static_shapes)
    return learner, update


def upgrade_run_config(run: dict) -> dict:
  """A config.json dict in today's layout: the execution settings in their own section.

  Older versions saved jit_compile and sequential_tasks under 'model', pad_to under 'data'
  and steps_per_call under 'train'. They move to 'execution' (where a run has one, it wins);
  a run folder of any version then resumes and evaluates.

  Args:
    run: the parsed config.json (not modified).

  Returns:
    A new dict with an 'execution' section and none of its fields elsewhere.
  """
  run = {k: dict(v) if isinstance(v, dict) else v for k, v in run.items()}
  execution = {}
  for section, names in MOVED_TO_EXECUTION.items():
    for name in names:
      if name in run.get(section, {}):
        execution[name] = run[section].pop(name)
  execution.update(run.get('execution', {}))
  run['execution'] = dataclasses.asdict(ExecutionConfig(**execution))
  return run
