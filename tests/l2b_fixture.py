"""The authors' parity fixture (../shared/reference/l2b_parity) as taml_tf objects.

The fixture holds what the authors' TF1 code (haebeom-lee/l2b) computes for one fixed episode
and fixed weights: posteriors, KL, query logits after 3 inner steps, the loss, and two
meta-gradients (``grad/``: the exact gradient of their objective; ``grad_map_fn/``: the one
their main.py trains with, which drops the second-order terms through the inner steps'
batch-norm backward). This module loads it, builds a :class:`~taml_tf.method.learner.MetaLearner`
holding its weights and maps the authors' variable names to the learner's variables.

Tests call :func:`require`: it skips on a clone without ``../shared`` and fails instead when
``TAML_REQUIRE_REAL_DATA=1`` (CI), as for the real data sets.
"""

from __future__ import annotations

import json
import os

import numpy as np

from taml_tf.method import config as config_lib
from taml_tf.method import episodes as episodes_lib
from taml_tf.method.learner import MetaLearner
from tests import real_data

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ('parity_fixture.npz', 'parity_fixture.json')
# The fixture's variants as taml_tf variants; the padded one is Bayesian TAML on two tasks.
VARIANTS = {'maml': 'maml', 'metasgd': 'metasgd', 'bayesian_taml': 'bayesian_taml',
            'bayesian_taml_padded': 'bayesian_taml'}


def fixture_dir() -> str:
  """$TAML_PARITY_DIR, else <repo>/../shared/reference/l2b_parity."""
  return os.environ.get('TAML_PARITY_DIR',
                        os.path.join(_REPO, '..', 'shared', 'reference', 'l2b_parity'))


def require() -> str:
  """The fixture folder; skips (or fails under TAML_REQUIRE_REAL_DATA=1) when absent."""
  return real_data.require_in(fixture_dir(), FILES, 'parity fixture')


class Fixture:
  """The fixture's arrays (``arrays[name]``) and settings (``info``)."""

  def __init__(self, folder: str | None = None):
    folder = folder or require()
    with np.load(os.path.join(folder, 'parity_fixture.npz')) as d:
      self.arrays = {k: d[k] for k in d.files}
    with open(os.path.join(folder, 'parity_fixture.json'), encoding='utf-8') as f:
      self.info = json.load(f)
    self.settings = self.info['settings']

  def task(self, name: str, support_size: int | None = None) -> episodes_lib.Episode:
    """Task 'A' or 'B' as an unbatched Episode (pixels value / 255), support padded with
    zero rows to `support_size`."""
    a = self.arrays
    return episodes_lib.from_arrays(
        a[f'task_{name}/support_images'].astype(np.float32) / 255.0,
        a[f'task_{name}/support_labels'],
        a[f'task_{name}/query_images'].astype(np.float32) / 255.0,
        a[f'task_{name}/query_labels'], max_way=self.settings['way'],
        support_size=support_size)

  def batch(self, variant: str) -> episodes_lib.Episode:
    """The meta-batch of `variant`: (A) or, for the padded variant, (A, B) padded to the
    longest support set, as their data.py feeds it."""
    names = self.info['variants'][variant]['tasks']
    tasks = [self.task(n) for n in names]
    size = max(len(t.support_labels) for t in tasks)
    return episodes_lib.stack([self.task(n, size) for n in names])

  def config(self, variant: str, **overrides) -> config_lib.ModelConfig:
    """The ModelConfig of a fixture variant: their cifar shapes and settings."""
    s = self.settings
    return config_lib.variant(
        VARIANTS[variant], image_shape=(32, 32, 3), channels=32, max_way=s['way'],
        max_shot=s['max_shot'], train_inner_steps=s['n_steps'], inner_lr=s['inner_lr'],
        **overrides)

  def learner(self, variant: str, **overrides) -> 'ParityLearner':
    """A MetaLearner of `variant` holding the fixture's weights."""
    learner = ParityLearner(self.config(variant, **overrides))
    for name, variable in learner.by_authors_name.items():
      variable.assign(self.arrays['weights/' + name].astype(np.float32))
    return learner

  def gradient(self, variant: str, kind: str = 'grad') -> dict:
    """Their gradient of `variant` ('grad' or 'grad_map_fn'): authors' name -> array."""
    prefix = f'{variant}/{kind}/'
    return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


class ParityLearner(MetaLearner):
  """A MetaLearner that knows its variables by the authors' names."""

  @property
  def by_authors_name(self) -> dict:
    """Authors' variable name -> this learner's variable (every variable it has)."""
    out = {}
    for l, (conv, norm) in enumerate(zip(self.backbone.convs, self.backbone.norms), 1):
      out[f'theta/conv{l}_w'] = conv.kernel
      out[f'theta/conv{l}_b'] = conv.bias
      out[f'conv{l}_bn/beta'] = norm.offset
    for key, variable in self.alpha.items():
      layer, part = key.split('/')
      authors_layer = 'dense' if layer == 'head' else layer
      out[f'alpha/{authors_layer}_{"w" if part == "kernel" else "b"}'] = variable
    if self.encoder is not None:
      e = self.encoder
      layers = [l for l in e.instance if l.weights] + [e.interact1, *e.class_net, e.interact2]
      layers += [l for head in e.heads.values() for l in head]
      for layer in layers:
        out[f'encoder/{layer.name}/kernel'] = layer.kernel
        out[f'encoder/{layer.name}/bias'] = layer.bias
    return out

  def gradients_by_authors_name(self, grads) -> dict:
    """Gradients in the order of :attr:`meta_variables` keyed by the authors' names."""
    name_of = {id(v): k for k, v in self.by_authors_name.items()}
    return {name_of[id(v)]: np.asarray(g) for v, g in zip(self.meta_variables, grads)}


def relative_to_largest(ours: dict, theirs: dict) -> float:
  """max |ours - theirs| over every entry, divided by the largest |theirs| entry."""
  missing = sorted(set(theirs) - set(ours))
  if missing:
    raise AssertionError(f'no gradient for {missing}')
  worst = max(float(np.max(np.abs(ours[k] - theirs[k]))) for k in theirs)
  largest = max(float(np.max(np.abs(theirs[k]))) for k in theirs)
  return worst / largest
