"""SavedModel export of a meta-learner: written atomically, from a learner or a checkpoint.

The SavedModel holds a :class:`taml_tf.products.serving.ServingModule` (its signatures are described
there) and ``assets.extra/model_config.json``; it needs neither taml_tf nor Keras nor TFP at
serving time.

Usage::

  export_saved_model(learner, '/models/taml/1')
  # or, from a training checkpoint:
  export_from_checkpoint(config, '/runs/taml/ckpt', '/models/taml/1')
"""

from __future__ import annotations

import os
import shutil
import tempfile
import typing

import tensorflow as tf

from taml_tf.execution import atomic
from taml_tf.execution import run_dir
from taml_tf.method.config import ModelConfig
from taml_tf.method.learner import MetaLearner
from taml_tf.products.serving import ServingModule

CONFIG_FILE = os.path.join('assets.extra', 'model_config.json')


def export_saved_model(learner: typing.Union[MetaLearner, ServingModule], export_dir: str,
                       overwrite: bool = False, inner_steps: typing.Optional[int] = None,
                       mc_samples: typing.Optional[int] = None) -> str:
  """Writes the serving SavedModel of a learner atomically.

  The model is written into a temporary sibling of `export_dir` (same parent, so the same
  file system) and renamed into place only when complete; the resolved ModelConfig is written
  to ``assets.extra/model_config.json``. On any failure the temporary directory is removed and
  an existing `export_dir` is left as it was. Local file systems only (a rename on GCS is not
  atomic).

  Args:
    learner: a MetaLearner, or a ServingModule wrapping one (reused, so its traces are too).
    export_dir: the SavedModel directory to create.
    overwrite: replace an existing `export_dir` (the old one is removed only after the new one
      is in place); if False an existing `export_dir` is an error.
    inner_steps: serving inner steps (default ``config.test_inner_steps``); ignored when a
      ServingModule is passed.
    mc_samples: Monte-Carlo samples (default ``config.n_mc_samples``); ignored when a
      ServingModule is passed.

  Returns:
    The absolute path of the export.

  Raises:
    FileExistsError: if `export_dir` exists and `overwrite` is False.
    ValueError: for bad `inner_steps` / `mc_samples`.

  Example (a tiny untrained MAML; serving signatures in taml_tf.products.serving):

  >>> import os, tempfile
  >>> import tensorflow as tf
  >>> import taml_tf
  >>> learner = taml_tf.MetaLearner(taml_tf.variant(
  ...     'maml', image_shape=(8, 8, 1), channels=4, num_blocks=1, max_way=3, max_shot=2))
  >>> with tempfile.TemporaryDirectory() as folder:
  ...   path = taml_tf.export_saved_model(learner, os.path.join(folder, 'model'), inner_steps=1)
  ...   print(sorted(os.listdir(path)))
  ...   print('adapt_and_predict' in tf.saved_model.load(path).signatures)
  ['assets', 'assets.extra', 'fingerprint.pb', 'saved_model.pb', 'variables']
  True
  """
  export_dir = os.path.abspath(os.fspath(export_dir))
  if os.path.lexists(export_dir) and not overwrite:
    raise FileExistsError(f'export_dir {export_dir} already exists; pass overwrite=True to '
                          f'replace it')
  module = (learner if isinstance(learner, ServingModule)
            else ServingModule(learner, inner_steps, mc_samples))
  parent, base = os.path.split(export_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{base}.tmp-', dir=parent)
  try:
    # mkdtemp makes the directory private (0700); give the export the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    tf.saved_model.save(module, tmp, signatures=module.signatures())
    os.makedirs(os.path.join(tmp, 'assets.extra'), exist_ok=True)
    with open(os.path.join(tmp, CONFIG_FILE), 'w') as f:
      f.write(module.config.to_json())
    atomic.replace_dir(tmp, export_dir, overwrite)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return export_dir


def export_from_checkpoint(config: ModelConfig, checkpoint_path: str, export_dir: str,
                           overwrite: bool = False, inner_steps: typing.Optional[int] = None,
                           mc_samples: typing.Optional[int] = None,
                           max_way: typing.Optional[int] = None) -> str:
  """Restores a learner from a training checkpoint and exports it (see export_saved_model).

  Args:
    config: the configuration the checkpoint was trained with.
    checkpoint_path: a checkpoint prefix, or a directory (its latest checkpoint is used).
    export_dir: the SavedModel directory to create.
    overwrite: replace an existing `export_dir`.
    inner_steps: serving inner steps (default ``config.test_inner_steps``).
    mc_samples: Monte-Carlo samples (default ``config.n_mc_samples``).
    max_way: the most classes a served task may have (default ``config.max_way``, the
      training way); it may exceed the training way: no parameter depends on the way (the head
      is a zero matrix with one shared alpha column, the set encoder pools over classes), so a
      task whose classes fit the training way gets the same answer either way. Recorded in
      ``model_info`` and ``assets.extra/model_config.json``.

  Returns:
    The absolute path of the export.

  Raises:
    FileNotFoundError: if no checkpoint is found.
    FileExistsError: if `export_dir` exists and `overwrite` is False.
    ValueError: if the checkpoint does not match the config, or max_way < 2.
  """
  export_dir = os.path.abspath(os.fspath(export_dir))
  if os.path.lexists(export_dir) and not overwrite:
    raise FileExistsError(f'export_dir {export_dir} already exists; pass overwrite=True to '
                          f'replace it')
  if max_way is not None:
    config = config.replace(max_way=int(max_way))
  learner = run_dir.restore_learner(config, checkpoint_path)
  return export_saved_model(learner, export_dir, overwrite, inner_steps, mc_samples)
