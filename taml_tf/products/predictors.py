"""The two predictor drivers of the meta-test: a learner's and an exported SavedModel's.

:class:`Predictor` runs ``MetaLearner.predict`` compiled once per class count;
:class:`SavedModelPredictor` calls a ``taml-export`` SavedModel's signatures. Both take an
unbatched numpy Episode and a seed and return the query probabilities in the episode's padded
layout; :func:`taml_tf.products.evaluation.evaluate` and ``evaluate_saved_model`` score them.
"""

from __future__ import annotations

import os
import typing

import numpy as np
import tensorflow as tf

from taml_tf.method import balancing as balancing_lib
from taml_tf.method import episodes as episodes_lib

# How a meta-test predicts: the posterior mean of the balancing variables, or Monte-Carlo.
PREDICT_MODES = ('mean', 'mc')


def _episode_spec(image_shape, max_way: int) -> episodes_lib.Episode:
  """Episode TensorSpec with free support / query lengths (bucketed padding, one trace)."""
  return episodes_lib.Episode(
      tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([None], tf.int32),
      tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, *image_shape], tf.float32),
      tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32),
      tf.TensorSpec([max_way], tf.float32))


class Predictor:
  """`learner.predict` compiled once per (mode, num_samples, num_steps, max_way).

  Args:
    learner: a MetaLearner.
    mode: 'mean' or 'mc'.
    num_samples: Monte-Carlo samples (Python int; 'mc' only).
    num_steps: inner steps (Python int).

  Calling it with an unbatched Episode and an int32 [2] seed returns a dict of numpy arrays:
  'probs' [Q, max_way] and each switched-on balancing variable's posterior mean as recorded
  (``balancing.recorded_values``: 'omega' softmax over the real classes [max_way],
  'exp_gamma' [num_layers], 'z' [z_dim]).
  """

  def __init__(self, learner, mode: str, num_samples: typing.Optional[int], num_steps: int):
    self.learner, self.mode = learner, mode
    self.num_samples, self.num_steps = num_samples, num_steps
    self.traces = 0
    self._functions = {}

  def _function(self, max_way: int):
    if max_way not in self._functions:
      spec = _episode_spec(self.learner.config.image_shape, max_way)

      def run(task, seed, support_rows):
        self.traces += 1
        # One signature for both: a negative count pads nothing, as support_to_compute never
        # goes below the task's real rows.
        probs, bal = self.learner.predict(task, seed, mode=self.mode,
                                          num_samples=self.num_samples,
                                          num_steps=self.num_steps,
                                          support_rows=support_rows if self.padded else None)
        return {'probs': probs, **balancing_lib.recorded_values(bal, task.class_mask)}

      self._functions[max_way] = tf.function(
          run, input_signature=[spec, tf.TensorSpec([2], tf.int32),
                                tf.TensorSpec([], tf.float32)])
    return self._functions[max_way]

  @property
  def padded(self) -> bool:
    """Whether the learner computes with the authors' padding (``authors_padding``)."""
    return bool(self.learner.config.authors_padding)

  def __call__(self, task: episodes_lib.Episode, seed, support_rows=None) -> dict:
    """Predicts one unbatched numpy episode; `support_rows`: the authors' padding (the
    longest support set of the episode's meta-batch, see ``MetaLearner.support_to_compute``)
    or None."""
    fn = self._function(int(task.class_mask.shape[-1]))
    rows = -1.0 if support_rows is None else float(support_rows)
    out = fn(episodes_lib.to_tensors(task), tf.convert_to_tensor(seed, tf.int32),
             tf.constant(rows, tf.float32))
    return {k: v.numpy() for k, v in out.items()}


class SavedModelPredictor:
  """Meta-test predictions of an exported SavedModel (``taml-export``), without taml_tf's model.

  Args:
    path: the SavedModel folder.
    mode: 'mean' (signature ``adapt_and_predict``) or 'mc' (``adapt_and_predict_mc``; the
      samples and inner steps are those fixed at export, see ``model_info``).

  Calling it with an unbatched numpy Episode and an int32 [2] seed returns {'probs':
  [Q, max_way]} in the episode's padded layout (zeros on padding rows and classes), as
  :class:`Predictor` does; the balancing variables are not recorded.
  """

  def __init__(self, path: str, mode: str):
    if mode not in PREDICT_MODES:
      raise ValueError(f"mode must be one of {PREDICT_MODES}, got {mode!r}")
    if not tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
      raise FileNotFoundError(f'{path!r} is not a SavedModel folder (no saved_model.pb): '
                              'export one with taml-export')
    self.model = tf.saved_model.load(path)
    self.info = {k: v.numpy() for k, v in self.model.signatures['model_info']().items()}
    self.mode = mode
    self._fn = self.model.signatures['adapt_and_predict' if mode == 'mean'
                                     else 'adapt_and_predict_mc']

  def __call__(self, task: episodes_lib.Episode, seed) -> dict:
    support, query = task.support_mask > 0, task.query_mask > 0
    args = dict(support_images=tf.constant(task.support_images[support]),
                support_labels=tf.constant(task.support_labels[support], tf.int32),
                query_images=tf.constant(task.query_images[query]))
    if self.mode == 'mc':
      args['seed'] = tf.constant(seed, tf.int32)
    probs = self._fn(**args)['probs'].numpy()
    out = np.zeros([task.query_images.shape[0], task.class_mask.shape[-1]], np.float32)
    out[np.flatnonzero(query), :probs.shape[1]] = probs
    return {'probs': out}
