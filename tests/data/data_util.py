"""Shared helpers for the data tests: where the real data lives, and skipping without it.

Thin wrappers over :mod:`tests.real_data`, which fails instead of skipping when
TAML_REQUIRE_REAL_DATA=1 (set by CI).
"""

import os

from tests import real_data

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data_dir() -> str:
  return real_data.data_dir()


def real_file(name: str) -> str:
  """Path of a real data file, skipping the test (reason says 'real data absent') without it."""
  return os.path.join(real_data.require(name), name)
