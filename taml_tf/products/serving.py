"""The serving signatures of a meta-learner: request checks and the module a SavedModel holds.

The exported model needs neither taml_tf nor Keras nor TFP at serving time: every signature is
a ``tf.function`` over plain tensors that runs the whole meta-test computation (set encoder ->
posterior of omega, gamma, z -> inner loop on the support set -> query probabilities).

Signatures (S support rows, Q queries, (H, W, C) = ``config.image_shape``, way = the task's
number of classes = max(support_labels) + 1, at most ``config.max_way``, the serving limit
:func:`taml_tf.products.export.export_from_checkpoint` sets, which may exceed the training way):

* ``adapt_and_predict`` (also ``serving_default``): support_images float32 [S, H, W, C],
  support_labels int32 [S], query_images float32 [Q, H, W, C] -> {'probs': [Q, way]}, with the
  posterior mean of the balancing variables and ``config.test_inner_steps`` inner steps.
* ``adapt_and_predict_mc``: the same plus seed int32 [2] -> {'probs': [Q, way]}, averaged over
  ``config.n_mc_samples`` Monte-Carlo samples of the balancing variables.
* ``balancing_variables``: support_images, support_labels -> omega [way], omega_mean [way],
  gamma [num_layers], gamma_multiplier [num_layers], z [z_dim] (posterior means).
* ``model_info``: no inputs -> max_way, image_shape, inner_steps, mc_samples, z_dim, num_layers.

Bad inputs fail with ``tf.errors.InvalidArgumentError`` naming the problem (see
:func:`input_assertions`), wrong image sizes included: a loaded signature does not enforce its
TensorSpec's static (H, W, C), so it is checked at run time as well (an in-process
:class:`ServingModule` refuses such a call at the TensorSpec already).

:mod:`taml_tf.products.export` writes a :class:`ServingModule` as a SavedModel.
"""

from __future__ import annotations

import typing

import tensorflow as tf

from taml_tf.execution import run_dir
from taml_tf.method import balancing
from taml_tf.method.config import ModelConfig
from taml_tf.method.episodes import Episode
from taml_tf.method.learner import MetaLearner

SIGNATURE_NAMES = ('adapt_and_predict', 'adapt_and_predict_mc', 'balancing_variables',
                   'model_info')


def input_assertions(support_images, support_labels, query_images, max_way: int,
                     image_shape=None):
  """Checks one serving request and returns the task's number of classes.

  Each check runs only after the previous one passed, so the first problem found is the one
  reported.

  Args:
    support_images: float32 [S, H, W, C].
    support_labels: int32 [S], class ids 0..way-1.
    query_images: float32 [Q, H, W, C], or None (no query set, e.g. ``balancing_variables``).
    max_way: the most classes the model allows.
    image_shape: the model's (H, W, C), checked at run time when given.

  Returns:
    (way, checked) where way is an int32 scalar tensor (max(support_labels) + 1) and checked is
    the list of inputs passed through ``tf.identity`` under the assertions, in argument order
    (query_images omitted when None).

  Raises:
    tf.errors.InvalidArgumentError: (when run) images are not [N, H, W, C] ("wrong image
      size"), the support or query set is empty, support labels and images disagree in
      length, a label is negative or reaches max_way ("more classes than the model allows"),
      the task has fewer than 2 classes, a class id below way has no support example
      ("missing class"), a pixel is NaN or infinite, or a pixel lies outside [0, 1] ("out of
      range: pixel values must be in [0, 1]", e.g. images in 0..255).
  """
  s = tf.shape(support_labels)[0]
  checks = []
  for name, images in (('support_images', support_images), ('query_images', query_images)):
    if images is not None and image_shape is not None:
      # The TensorSpec fixes (H, W, C), but a loaded signature does not enforce static shapes.
      checks.append(lambda name=name, images=images: tf.debugging.assert_equal(
          tf.shape(images)[1:], tf.constant(image_shape, tf.int32),
          message=f'wrong image size: {name} must be [N, {", ".join(map(str, image_shape))}] '
                  f'(the model\'s image_shape (H, W, C))'))
  checks += [
      lambda: tf.debugging.assert_greater(
          s, 0, message='empty support set: support_labels and support_images need at least '
                        'one row per class'),
      lambda: tf.debugging.assert_equal(
          tf.shape(support_images)[0], s,
          message='support_labels and support_images must have the same number of rows'),
  ]
  if query_images is not None:
    checks.append(lambda: tf.debugging.assert_greater(
        tf.shape(query_images)[0], 0, message='empty query set: query_images has no rows'))
  checks += [
      lambda: tf.debugging.assert_non_negative(
          support_labels, message='support_labels out of range: labels must be >= 0'),
      lambda: tf.debugging.assert_less(
          support_labels, tf.constant(max_way, tf.int32),
          message=f'support_labels out of range: more classes than the model allows '
                  f'(labels must be in 0..{max_way - 1}, max_way={max_way})'),
      lambda: tf.debugging.assert_greater_equal(
          tf.reduce_max(support_labels), 1,
          message='fewer than 2 classes: a task needs support labels 0 and 1 at least'),
      lambda: tf.debugging.assert_equal(
          tf.reduce_all(tf.math.bincount(support_labels, minlength=max_way,
                                         maxlength=max_way)[:tf.reduce_max(support_labels) + 1]
                        > 0), True,
          message='missing class: every class id 0..max(support_labels) needs at least one '
                  'support example'),
      lambda: tf.debugging.assert_equal(
          tf.reduce_all(tf.math.is_finite(support_images)), True,
          message='support_images contain NaN or infinite pixels'),
  ]
  if query_images is not None:
    checks.append(lambda: tf.debugging.assert_equal(
        tf.reduce_all(tf.math.is_finite(query_images)), True,
        message='query_images contain NaN or infinite pixels'))
  # The model was trained on pixels in [0, 1]; 0..255 images would be answered without error
  # but meaninglessly.
  for name, images in (('support_images', support_images), ('query_images', query_images)):
    if images is not None:
      checks.append(lambda name=name, images=images: tf.debugging.assert_equal(
          tf.reduce_all((images >= 0.0) & (images <= 1.0)), True,
          message=f'{name} out of range: pixel values must be in [0, 1] (images in 0..255 '
                  f'must be divided by 255)'))
  deps = []
  for check in checks:
    with tf.control_dependencies(deps):
      op = check()
    deps = [op] if op is not None else deps
  with tf.control_dependencies(deps):
    tensors = [support_images, support_labels]
    if query_images is not None:
      tensors.append(query_images)
    checked = [tf.identity(x) for x in tensors]
    way = tf.reduce_max(checked[1]) + 1
  return way, checked


def request_episode(support_images, support_labels, query_images, config: ModelConfig):
  """Checks a request (:func:`input_assertions`) and builds its unpadded, all-real Episode.

  Args:
    support_images: float32 [S, H, W, C].
    support_labels: int32 [S], class ids 0..way-1.
    query_images: float32 [Q, H, W, C], or None: an empty query set (adapting only, or
      reading the balancing variables).
    config: the model's ModelConfig (its max_way and image_shape).

  Returns:
    (task, way): the Episode (class_mask marks classes 0..way-1 of max_way) and the int32
    number of classes.
  """
  way, checked = input_assertions(support_images, support_labels, query_images,
                                  config.max_way, config.image_shape)
  support_images, support_labels = checked[:2]
  if query_images is None:
    query_images = tf.zeros([0, *config.image_shape], tf.float32)
  else:
    query_images = checked[2]
  s, q = tf.shape(support_labels)[0], tf.shape(query_images)[0]
  task = Episode(
      support_images=support_images, support_labels=support_labels,
      support_mask=tf.ones([s], tf.float32), query_images=query_images,
      query_labels=tf.zeros([q], tf.int32), query_mask=tf.ones([q], tf.float32),
      class_mask=tf.cast(tf.range(config.max_way) < way, tf.float32))
  return task, way


class ServingModule(tf.Module):
  """The serving signatures of a :class:`~taml_tf.method.learner.MetaLearner`.

  Args:
    learner: the trained meta-learner (its variables are saved with the module).
    inner_steps: inner steps at serving time (default ``config.test_inner_steps``).
    mc_samples: Monte-Carlo samples of ``adapt_and_predict_mc`` (default
      ``config.n_mc_samples``).
    name: module name.

  Raises:
    ValueError: if inner_steps < 0 or mc_samples < 1.
  """

  def __init__(self, learner: MetaLearner, inner_steps: typing.Optional[int] = None,
               mc_samples: typing.Optional[int] = None, name: str = 'taml_serving'):
    super().__init__(name=name)
    c = learner.config
    # The learner itself stays out of the saved object graph: its Keras models would add
    # default serving functions (that cannot trace for the set encoder) and any training traces.
    # Only its variables are saved, as plain tf.Variables the signatures capture.
    object.__setattr__(self, '_learner', learner)
    self.model_variables = serving_variables(learner)
    self.inner_steps = c.test_inner_steps if inner_steps is None else int(inner_steps)
    self.mc_samples = c.n_mc_samples if mc_samples is None else int(mc_samples)
    if self.inner_steps < 0:
      raise ValueError(f'inner_steps must be >= 0, got {self.inner_steps}')
    if self.mc_samples < 1:
      raise ValueError(f'mc_samples must be >= 1, got {self.mc_samples}')
    images = tf.TensorSpec((None,) + tuple(c.image_shape), tf.float32)
    labels = tf.TensorSpec([None], tf.int32)
    # The learner's control flow is plain Python (static step counts, tf.map_fn), so autograph
    # would only slow down tracing (it halves the export time).
    self.adapt_and_predict = tf.function(
        self._adapt_and_predict, autograph=False,
        input_signature=[_named(images, 'support_images'), _named(labels, 'support_labels'),
                         _named(images, 'query_images')])
    self.adapt_and_predict_mc = tf.function(
        self._adapt_and_predict_mc, autograph=False,
        input_signature=[_named(images, 'support_images'), _named(labels, 'support_labels'),
                         _named(images, 'query_images'),
                         tf.TensorSpec([2], tf.int32, name='seed')])
    self.balancing_variables = tf.function(
        self._balancing_variables, autograph=False,
        input_signature=[_named(images, 'support_images'), _named(labels, 'support_labels')])
    self.model_info = tf.function(self._model_info, input_signature=[], autograph=False)

  @property
  def learner(self) -> MetaLearner:
    """The wrapped meta-learner."""
    return self._learner

  @property
  def config(self) -> ModelConfig:
    """The learner's configuration."""
    return self.learner.config

  def signatures(self) -> dict:
    """The signature functions keyed by name (plus ``serving_default``) for saving.

    They are ``tf.function``s with input signatures rather than concrete functions:
    ``tf.saved_model.save`` traces them inside its save context anyway (a trace made before
    would be repeated), so each is traced only once.
    """
    out = {name: getattr(self, name) for name in SIGNATURE_NAMES}
    out['serving_default'] = out['adapt_and_predict']
    return out

  def _adapt_and_predict(self, support_images, support_labels, query_images):
    """Query probabilities under the posterior mean of the balancing variables.

    Args:
      support_images: float32 [S, H, W, C].
      support_labels: int32 [S] in 0..way-1; every class needs at least one example.
      query_images: float32 [Q, H, W, C].

    Returns:
      {'probs': float32 [Q, way]}, rows summing to 1.

    Raises:
      tf.errors.InvalidArgumentError: for a bad request (see :func:`input_assertions`).
    """
    task, way = request_episode(support_images, support_labels, query_images, self.config)
    probs, _ = self.learner.predict(task, mode='mean', num_steps=self.inner_steps)
    return {'probs': probs[:, :way]}

  def _adapt_and_predict_mc(self, support_images, support_labels, query_images, seed):
    """Query probabilities averaged over Monte-Carlo samples of the balancing variables.

    Each sample re-runs the whole inner loop; the same seed gives the same result.

    Args:
      support_images: float32 [S, H, W, C].
      support_labels: int32 [S] in 0..way-1; every class needs at least one example.
      query_images: float32 [Q, H, W, C].
      seed: int32 [2] stateless seed.

    Returns:
      {'probs': float32 [Q, way]}.

    Raises:
      tf.errors.InvalidArgumentError: for a bad request (see :func:`input_assertions`).
    """
    task, way = request_episode(support_images, support_labels, query_images, self.config)
    probs, _ = self.learner.predict(task, seed=seed, mode='mc', num_samples=self.mc_samples,
                                    num_steps=self.inner_steps)
    return {'probs': probs[:, :way]}

  def _balancing_variables(self, support_images, support_labels):
    """Posterior means of the balancing variables inferred from a support set.

    Switched-off variables are reported as their neutral values: omega_mean zeros (so omega is
    uniform, 1 / way), gamma zeros (gamma_multiplier ones), z zeros.

    Args:
      support_images: float32 [S, H, W, C].
      support_labels: int32 [S] in 0..way-1; every class needs at least one example.

    Returns:
      A dict of float32 tensors:
        omega: [way] softmax(omega) over the real classes, the class weights of the inner loss
          (the paper's figure quantity).
        omega_mean: [way] the raw posterior mean of omega (class logits).
        gamma: [num_layers] the posterior mean of gamma (log step-size multipliers; conv
          blocks first, the dense head last).
        gamma_multiplier: [num_layers] exp(gamma), the factor applied to each layer's inner
          step size.
        z: [z_dim] the posterior mean of z (first half multiplicative, per conv layer and
          channel; second half additive).

    Raises:
      tf.errors.InvalidArgumentError: for a bad request (see :func:`input_assertions`).
    """
    c = self.config
    task, way = request_episode(support_images, support_labels, None, c)
    class_mask = task.class_mask
    bal = self.learner.posterior_mean(task.support_images, task.support_labels,
                                      task.support_mask, class_mask)
    omega_mean = tf.zeros([c.max_way]) if bal.omega is None else bal.omega
    gamma = tf.zeros([c.num_layers]) if bal.gamma is None else bal.gamma
    z = tf.zeros([c.z_dim]) if bal.z is None else bal.z
    return {'omega': balancing.class_weights(bal.omega, class_mask)[:way],
            'omega_mean': omega_mean[:way],
            'gamma': tf.identity(gamma), 'gamma_multiplier': tf.exp(gamma),
            'z': tf.identity(z)}

  def _model_info(self):
    """Static facts a client needs to form requests.

    Returns:
      A dict of int32 tensors: max_way, image_shape (H, W, C), inner_steps, mc_samples, z_dim,
      num_layers.
    """
    c = self.config
    return {'max_way': tf.constant(c.max_way, tf.int32),
            'image_shape': tf.constant(c.image_shape, tf.int32),
            'inner_steps': tf.constant(self.inner_steps, tf.int32),
            'mc_samples': tf.constant(self.mc_samples, tf.int32),
            'z_dim': tf.constant(c.z_dim, tf.int32),
            'num_layers': tf.constant(c.num_layers, tf.int32)}


def serving_variables(learner: MetaLearner) -> list:
  """Every tf.Variable the serving computation reads (backbone, set encoder, alpha).

  Args:
    learner: a MetaLearner.

  Returns:
    The backing ``tf.Variable``s of its Keras variables, in a fixed order.
  """
  return [raw for _, raw in run_dir.learner_variables(learner)]


def _named(spec: tf.TensorSpec, name: str) -> tf.TensorSpec:
  return tf.TensorSpec(spec.shape, spec.dtype, name=name)
