"""The package's folders are its layers: no module imports a higher layer.

Reads every import statement (function-level ones included) of every module under taml_tf/
and checks it against the order method < data < execution < products. The front door,
taml_tf/__init__.py, re-exports from every layer and is not checked; flags/ and launch/ sit
above the library.
"""

import ast
import os
import tempfile
import unittest

import taml_tf

LAYERS = ('method', 'data', 'execution', 'products')
PACKAGE = os.path.dirname(os.path.abspath(taml_tf.__file__))


def imported_modules(path):
  """Every module name `path` imports (absolute ``taml_tf`` imports; the package has no
  relative ones)."""
  tree = ast.parse(open(path, encoding='utf-8').read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        raise AssertionError(f'{path}:{node.lineno}: relative import')
      for alias in node.names:
        # `from taml_tf.method import config` imports the module taml_tf.method.config.
        yield node.lineno, f'{node.module}.{alias.name}'


def layer_of(module):
  """The layer of a dotted taml_tf module name, or None for the front door / non-taml_tf."""
  parts = module.split('.')
  if parts[0] != 'taml_tf' or len(parts) < 2:
    return None
  return parts[1] if parts[1] in LAYERS else None


def library_modules():
  for root, _, files in os.walk(PACKAGE):
    rel = os.path.relpath(root, PACKAGE)
    # Installed checkouts map flags/ and launch/ inside the package: they are not library.
    if rel.split(os.sep)[0] in ('flags', 'launch', '__pycache__'):
      continue
    for name in files:
      if name.endswith('.py'):
        yield os.path.join(root, name), rel


def violations():
  """(file, line, imported module, why) for each import of a higher layer."""
  found = []
  for path, rel in library_modules():
    if rel == '.':
      continue
    own = rel.split(os.sep)[0]
    for line, module in imported_modules(path):
      target = layer_of(module)
      if target is not None and LAYERS.index(target) > LAYERS.index(own):
        found.append((os.path.relpath(path, PACKAGE), line, module,
                      f'{own} imports the higher layer {target}'))
  return found


class LayersTest(unittest.TestCase):

  def test_every_module_lives_in_a_layer(self):
    flat = sorted(name for path, rel in library_modules() if rel == '.'
                  for name in [os.path.basename(path)] if name != '__init__.py')
    self.assertEqual(flat, [], 'modules outside the layer folders')
    folders = {rel.split(os.sep)[0] for _, rel in library_modules() if rel != '.'}
    self.assertLessEqual(folders, set(LAYERS))

  def test_no_import_of_a_higher_layer(self):
    self.assertEqual(violations(), [])

  def test_the_reader_sees_function_level_imports(self):
    path = os.path.join(self.enterContext(tempfile.TemporaryDirectory()), 'module.py')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('def f():\n  from taml_tf.products import results\n  import taml_tf.data.sampler\n')
    self.assertEqual([m for _, m in imported_modules(path)],
                     ['taml_tf.products.results', 'taml_tf.data.sampler'])
    self.assertEqual([layer_of('taml_tf.products.results'), layer_of('taml_tf.data.sampler'),
                      layer_of('taml_tf'), layer_of('numpy')], ['products', 'data', None, None])


if __name__ == '__main__':
  unittest.main()
