"""README.md's Python section runs as written (in a temporary folder)."""

import os
import re
import tempfile
import unittest

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = '## Python and Keras'


def python_block(readme: str) -> str:
  """The first ```python block of the README's Python section."""
  section = readme.split(SECTION, 1)[1].split('\n## ', 1)[0]
  match = re.search(r'```python\n(.*?)```', section, re.S)
  if match is None:
    raise AssertionError(f'no python block under {SECTION!r}')
  return match.group(1)


class ReadmeTest(unittest.TestCase):

  def test_the_python_section_runs_as_written(self):
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
      code = python_block(f.read())
    folder = tempfile.mkdtemp(prefix='readme_test_')
    cwd = os.getcwd()
    os.chdir(folder)
    try:
      scope = {'__name__': '__readme__'}
      exec(compile(code, 'README.md', 'exec'), scope)  # pylint: disable=exec-used
    finally:
      os.chdir(cwd)
    self.assertEqual(scope['probs'].shape, (45, 3))
    self.assertEqual(scope['more'].shape, (45, 3))
    np.testing.assert_allclose(scope['probs'].sum(-1), 1.0, atol=1e-5)
    self.assertTrue(os.path.isfile(os.path.join(folder, 'taml.keras')))
    self.assertTrue(os.path.isfile(os.path.join(folder, 'taml_saved_model', 'saved_model.pb')))
    self.assertEqual(int(scope['model'].optimizer.iterations.numpy()), 20)


if __name__ == '__main__':
  unittest.main()
