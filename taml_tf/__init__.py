"""taml-tf: Bayesian Task-Adaptive Meta-Learning (Lee et al., ICLR 2020) in TensorFlow 2.

The public API (``__all__``); everything else is reached through the layer sub-packages:

* ``taml_tf.method`` - what is computed: configs, episodes, the models, the balancing
  variables, the inner loop, the meta-learner and its meta-update;
* ``taml_tf.data`` - sources, the any-shot episode sampler, tf.data pipelines;
* ``taml_tf.execution`` - how it runs: execution settings, the trainer, run folders,
  distribution strategies;
* ``taml_tf.products`` - what a trained learner yields: evaluation, export and serving,
  reports, figures, diagnostics, benchmarks, and the Keras front door.

In a notebook::

  import taml_tf
  task = taml_tf.TaskShape(way=5, max_shot=15, query=15)
  model = taml_tf.TamlModel('bayesian_taml', task=task)
  model.compile()
  model.fit(taml_tf.make_episodes((images, labels), task), steps_per_epoch=100, epochs=10)
  probs = model.adapt(support_images, support_labels).predict(query_images)

Names are imported on first use, so ``import taml_tf`` stays cheap (no TensorFlow import).
It sets one thing for a TensorFlow imported after it: oneDNN's CPU kernels on x86-64 where
the environment does not say otherwise (``taml_tf.execution.onednn``: 2-2.9x faster steps on
an AVX2 CPU, where TensorFlow's own default is Eigen's kernels).
"""

import importlib

from taml_tf.execution import onednn as _onednn

__version__ = '0.1.0'

# Before any TensorFlow import of the package: TensorFlow reads it once, when imported
# (taml_tf.execution.onednn says why and what it measured).
_onednn.default_on()

# Public name -> the module that defines it.
_EXPORTS = {
    'TamlModel': 'taml_tf.products.keras_model',
    'AdaptedTask': 'taml_tf.products.keras_model',
    'TaskShape': 'taml_tf.method.task_shape',
    'make_episodes': 'taml_tf.data.pipeline',
    'ModelConfig': 'taml_tf.method.config',
    'VARIANTS': 'taml_tf.method.config',
    'variant': 'taml_tf.method.config',
    'ExecutionConfig': 'taml_tf.execution.execution_config',
    'configure_threads': 'taml_tf.execution.threads',
    'Episode': 'taml_tf.method.episodes',
    'MetaLearner': 'taml_tf.method.learner',
    'MetaUpdate': 'taml_tf.method.meta_update',
    'TrainConfig': 'taml_tf.execution.trainer',
    'Trainer': 'taml_tf.execution.trainer',
    'evaluate': 'taml_tf.products.evaluation',
    'export_saved_model': 'taml_tf.products.export',
}

__all__ = sorted(_EXPORTS) + ['__version__']


def __getattr__(name):
  if name in _EXPORTS:
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
  return sorted(set(globals()) | set(__all__))
