"""Writing files atomically: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import os
import tempfile


def write_bytes(path: str, data: bytes) -> None:
  """Writes `data` to a temporary file next to `path`, then renames it over `path`."""
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_text(path: str, text: str) -> None:
  """`write_bytes` of UTF-8 text."""
  write_bytes(path, text.encode('utf-8'))
