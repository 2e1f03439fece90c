"""Shared helpers for the data tests: where the real data lives, and skipping without it."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_dir() -> str:
  return os.environ.get('TAML_DATA_DIR') or os.path.join(os.path.dirname(REPO), 'shared', 'data')


def real_file(name: str) -> str:
  """Path of a real data file, skipping the test (reason says 'real data absent') without it."""
  path = os.path.join(data_dir(), name)
  if not os.path.exists(path):
    pytest.skip(f'real data absent: {path}')
  return path
