"""taml-tf: Bayesian Task-Adaptive Meta-Learning (Lee et al., ICLR 2020) in TensorFlow 2.

Public entry points:

* :class:`taml_tf.config.ModelConfig` - the model's configuration (variants via
  :func:`taml_tf.config.variant`).
* :class:`taml_tf.learner.MetaLearner` - MAML / Meta-SGD / omega-, gamma-, z-TAML /
  deterministic and Bayesian TAML as one class with switches.
* :class:`taml_tf.episodes.Episode` - the padded task type every component speaks.
"""

__version__ = '0.1.0'
