"""taml_tf's public API: every name of __all__ resolves, and importing the package stays cheap.

That every public name carries a docstring example that runs: docstring_examples_test.py.
"""

import os
import re
import subprocess
import sys
import unittest

import taml_tf


class PublicApiTest(unittest.TestCase):

  def test_every_public_name_resolves(self):
    for name in taml_tf.__all__:
      self.assertIsNotNone(getattr(taml_tf, name), name)
    with self.assertRaisesRegex(AttributeError, 'no attribute'):
      getattr(taml_tf, 'Nothing')

  def test_names_the_docs_call_exist(self):
    """Every ``taml_tf.<name>`` the README and the package's docstrings use is public."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    texts = {'README.md': open(os.path.join(root, 'README.md')).read()}
    for folder, _, files in os.walk(os.path.dirname(taml_tf.__file__)):
      for f in files:
        if f.endswith('.py'):
          with open(os.path.join(folder, f)) as source:
            texts[os.path.relpath(os.path.join(folder, f), root)] = source.read()
    used = {(path, name) for path, text in texts.items()
            for name in re.findall(r'\btaml_tf\.([A-Za-z_]\w*)\(', text)}
    self.assertTrue(any(path == 'README.md' for path, _ in used))
    for path, name in sorted(used):
      self.assertIn(name, taml_tf.__all__, f'{path} calls taml_tf.{name}, which is not public')

  def test_import_does_not_load_tensorflow(self):
    code = 'import sys, taml_tf; print("tensorflow" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    self.assertEqual(out.strip(), 'False')


if __name__ == '__main__':
  unittest.main()
