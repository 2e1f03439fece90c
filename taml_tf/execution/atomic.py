"""Writing files and folders atomically: a reader sees the old one or the whole new one."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid


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


def replace_dir(tmp: str, export_dir: str, overwrite: bool) -> None:
  """Renames the complete folder `tmp` to `export_dir`, swapping out an existing one when
  `overwrite` (the old one is removed only after the new one is in place).

  Raises:
    FileExistsError: if `export_dir` exists and `overwrite` is False.
  """
  if not os.path.lexists(export_dir):
    os.rename(tmp, export_dir)  # Fails (rather than merges) if a non-empty dir appeared.
    return
  if not overwrite:
    raise FileExistsError(f'export_dir {export_dir} appeared during the export')
  parent, base = os.path.split(export_dir)
  old = os.path.join(parent, f'.{base}.old-{uuid.uuid4().hex}')
  os.rename(export_dir, old)
  try:
    os.rename(tmp, export_dir)
  except BaseException:
    os.rename(old, export_dir)
    raise
  if os.path.isdir(old) and not os.path.islink(old):
    shutil.rmtree(old, ignore_errors=True)
  else:
    os.remove(old)
