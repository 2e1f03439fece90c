"""Locating the real data sets (../shared/data) for tests.

Tests that need real data call :func:`require`, which skips with the reason "real data absent"
on a clone without the data, and fails instead when ``TAML_REQUIRE_REAL_DATA=1`` (CI sets it,
so real-data tests can never be skipped there silently).
"""

from __future__ import annotations

import os
import unittest

import numpy as np

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_dir() -> str:
  """The real-data folder: $TAML_DATA_DIR, else <repo>/../shared/data."""
  return os.environ.get('TAML_DATA_DIR', os.path.join(_REPO, '..', 'shared', 'data'))


def require(*files: str) -> str:
  """Returns the data folder, skipping (or failing in CI) when `files` are absent."""
  return require_in(data_dir(), files, 'real data')


def require_in(folder: str, files, what: str) -> str:
  """Returns `folder`; skips with '<what> absent' when one of `files` is not in it, or fails
  instead under TAML_REQUIRE_REAL_DATA=1 (CI), so that CI can never skip it silently."""
  missing = [f for f in files if not os.path.exists(os.path.join(folder, f))]
  if missing:
    message = f'{what} absent: {missing} not in {folder}'
    if os.environ.get('TAML_REQUIRE_REAL_DATA') == '1':
      raise AssertionError(message + ' (TAML_REQUIRE_REAL_DATA=1)')
    raise unittest.SkipTest(message)
  return folder


def omniglot_characters(split: str = 'background') -> np.ndarray:
  """Real Omniglot characters [C, 20, 28, 28, 1] as float32 in [0, 1] (1 = ink)."""
  folder = require('omniglot_28x28.npz')
  with np.load(os.path.join(folder, 'omniglot_28x28.npz')) as d:
    images = d[f'{split}_images']
  return images[..., None].astype(np.float32) / 255.0
