"""The package's folders are its layers: no module imports a higher layer.

Reads every import of every module under taml_tf/ (function-level ones included) and checks it
against the order method < data < execution < products < flags < launch. An import is any of:

* an ``import`` / ``from ... import`` statement;
* a name of the front door: ``from taml_tf import Trainer``, ``from taml_tf import *``,
  ``taml_tf.Trainer`` or ``getattr(taml_tf, 'Trainer')`` after ``import taml_tf``, each counted
  as an import of the module that defines the name (taml_tf/__init__.py's ``_EXPORTS``);
* ``importlib.import_module('taml_tf....')`` or ``__import__('taml_tf....')`` with a string
  literal; a call with anything else is reported, since no reader can tell what it imports.

flags/ and launch/ sit above the library (setup.py installs them as ``taml_tf.flags`` and
``taml_tf.launch``; from a checkout's root they are also the top-level ``flags`` and
``launch``): the library never imports them, nor absl's flags. The front door itself,
taml_tf/__init__.py, re-exports from every layer and is not checked.
"""

import ast
import os
import shutil
import tempfile
import unittest

import taml_tf

LAYERS = ('method', 'data', 'execution', 'products')
# Above the library, lowest first: the flag definitions, then the binaries.
ABOVE = ('flags', 'launch')
ORDER = LAYERS + ABOVE
PACKAGE = os.path.dirname(os.path.abspath(taml_tf.__file__))
# What imported_modules yields for an importlib call whose module it cannot read.
DYNAMIC = '<dynamic import>'


def front_door_exports(package=PACKAGE):
  """Public name -> defining module, read from `package`'s __init__.py (its ``_EXPORTS``)."""
  path = os.path.join(package, '__init__.py')
  tree = ast.parse(open(path, encoding='utf-8').read(), path)
  for node in tree.body:
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and
        isinstance(node.targets[0], ast.Name) and node.targets[0].id == '_EXPORTS'):
      return ast.literal_eval(node.value)
  raise AssertionError(f'{path} defines no _EXPORTS')


def _front_door_name(name, exports):
  """The module that ``taml_tf.<name>`` reaches: its defining module for a public name, else
  the submodule ``taml_tf.<name>``."""
  return exports.get(name, f'taml_tf.{name}')


def _string(node):
  return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _import_call(node):
  """The argument nodes of an ``importlib.import_module(...)`` / ``import_module(...)`` /
  ``__import__(...)`` call, or None."""
  func = node.func
  name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
  if name in ('import_module', '__import__'):
    return node.args
  return None


def imported_modules(path, source=None, exports=None):
  """(line, module) for every module `path` imports (the package has no relative imports).

  Args:
    path: a Python file (read unless `source` is given; named in errors).
    source: the file's text, to check text that is not on disk.
    exports: the front door's public name -> module (default: the installed package's).
  """
  if source is None:
    source = open(path, encoding='utf-8').read()
  exports = front_door_exports() if exports is None else exports
  tree = ast.parse(source, path)
  # Names bound to the front door module itself (`import taml_tf`, `import taml_tf as t`,
  # `import taml_tf.method.config`, which binds taml_tf too).
  front_door = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.asname is None and alias.name.split('.')[0] == 'taml_tf':
          front_door.add('taml_tf')
        elif alias.name == 'taml_tf':
          front_door.add(alias.asname)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        raise AssertionError(f'{path}:{node.lineno}: relative import')
      for alias in node.names:
        if node.module == 'taml_tf':
          # The front door: a name counts as an import of the module that defines it.
          modules = sorted(set(exports.values())) if alias.name == '*' else [
              _front_door_name(alias.name, exports)]
          for module in modules:
            yield node.lineno, module
        else:
          # `from taml_tf.method import config` imports the module taml_tf.method.config.
          yield node.lineno, f'{node.module}.{alias.name}'
    elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and
          node.value.id in front_door):
      yield node.lineno, _front_door_name(node.attr, exports)
    elif isinstance(node, ast.Call):
      if (isinstance(node.func, ast.Name) and node.func.id == 'getattr' and
          len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and
          node.args[0].id in front_door):
        name = _string(node.args[1])
        yield node.lineno, DYNAMIC if name is None else _front_door_name(name, exports)
        continue
      args = _import_call(node)
      if args is None:
        continue
      module = _string(args[0]) if args else None
      if module is not None and module.startswith('.'):
        # import_module('.config', 'taml_tf.method'): relative to a literal package.
        package = _string(args[1]) if len(args) > 1 else None
        level = len(module) - len(module.lstrip('.'))
        module = None if package is None else '.'.join(
            package.split('.')[:len(package.split('.')) - level + 1] + [module.lstrip('.')])
      yield node.lineno, DYNAMIC if module is None else module


def layer_of(module):
  """The layer of a dotted module name: one of LAYERS for a library module, 'flags' /
  'launch' for the flags and binaries (``taml_tf.flags``, the checkout's top-level ``flags``,
  absl's flags; ``taml_tf.launch``, ``launch``); None for the front door and anything else."""
  parts = module.split('.')
  if parts[0] in ABOVE:
    return parts[0]
  if parts[:2] == ['absl', 'flags']:
    return 'flags'
  if parts[0] != 'taml_tf' or len(parts) < 2:
    return None
  return parts[1] if parts[1] in ORDER else None


def library_modules(package=PACKAGE):
  """(path, folder relative to `package`) of every module of the library under `package`."""
  for root, _, files in os.walk(package):
    rel = os.path.relpath(root, package)
    # Installed checkouts map flags/ and launch/ inside the package: they are not library.
    if rel.split(os.sep)[0] in ('flags', 'launch', '__pycache__'):
      continue
    for name in files:
      if name.endswith('.py'):
        yield os.path.join(root, name), rel


def violations(package=PACKAGE):
  """(file, line, imported module, why) for each import of a higher layer (or of the flags or
  binaries, or one the reader cannot resolve) by a library module under `package` (default:
  taml_tf; the front door's names are read from `package`'s __init__.py)."""
  exports = front_door_exports(package)
  found = []
  for path, rel in library_modules(package):
    if rel == '.':
      continue
    own = rel.split(os.sep)[0]
    for line, module in imported_modules(path, exports=exports):
      where = (os.path.relpath(path, package), line, module)
      if module == DYNAMIC:
        found.append(where + ('an import the reader cannot resolve (not a string literal)',))
        continue
      target = layer_of(module)
      if target is not None and ORDER.index(target) > ORDER.index(own):
        found.append(where + (f'{own} imports the higher layer {target}',))
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

  def test_the_front_door_names_are_the_public_ones(self):
    self.assertEqual(front_door_exports(), taml_tf._EXPORTS)  # pylint: disable=protected-access

  def test_the_reader_sees_function_level_imports(self):
    path = os.path.join(self.enterContext(tempfile.TemporaryDirectory()), 'module.py')
    with open(path, 'w', encoding='utf-8') as f:
      f.write('def f():\n  from taml_tf.products import results\n  import taml_tf.data.sampler\n')
    self.assertEqual([m for _, m in imported_modules(path)],
                     ['taml_tf.products.results', 'taml_tf.data.sampler'])
    self.assertEqual([layer_of('taml_tf.products.results'), layer_of('taml_tf.data.sampler'),
                      layer_of('taml_tf'), layer_of('numpy')], ['products', 'data', None, None])

  def test_the_reader_resolves_each_kind_of_import(self):
    cases = {
        'from taml_tf import Trainer': ['taml_tf.execution.trainer'],
        'from taml_tf import TaskShape as T': ['taml_tf.method.task_shape'],
        'import taml_tf\nx = taml_tf.evaluate': ['taml_tf', 'taml_tf.products.evaluation'],
        'import taml_tf as t\nt.Trainer': ['taml_tf', 'taml_tf.execution.trainer'],
        'import taml_tf\ngetattr(taml_tf, "evaluate")': ['taml_tf', 'taml_tf.products.evaluation'],
        'import importlib\nimportlib.import_module("taml_tf.products.reports")':
            ['importlib', 'taml_tf.products.reports'],
        'from importlib import import_module\nimport_module(".reports", "taml_tf.products")':
            ['importlib.import_module', 'taml_tf.products.reports'],
        '__import__("taml_tf.data.sampler")': ['taml_tf.data.sampler'],
        'import importlib\nimportlib.import_module(name)': ['importlib', DYNAMIC],
        'from taml_tf.flags import definitions': ['taml_tf.flags.definitions'],
        'import launch.train': ['launch.train'],
    }
    for source, modules in cases.items():
      with self.subTest(source):
        self.assertEqual([m for _, m in imported_modules('planted.py', source=source)], modules)
    self.assertEqual([layer_of(m) for m in ('taml_tf.flags.definitions', 'flags.resolve',
                                            'absl.flags', 'absl.logging', 'taml_tf.launch.train',
                                            'launch')],
                     ['flags', 'flags', 'flags', None, 'launch', 'launch'])

  def test_violations_reports_each_kind_planted_in_a_copy_of_the_package(self):
    root = os.path.join(self.enterContext(tempfile.TemporaryDirectory()), 'taml_tf')
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns('__pycache__'))
    self.assertEqual(violations(root), [], 'the copy starts clean')
    planted = {  # module under the copy -> its source; each line one violation
        'method/front_door.py': 'from taml_tf import Trainer\n',
        'method/front_door_attribute.py': ('import taml_tf\n\n\ndef f():\n'
                                          '  return taml_tf.make_episodes\n'),
        'data/front_door_star.py': 'from taml_tf import *\n',
        'execution/dynamic.py': ('import importlib\n'
                                 'evaluation = importlib.import_module('
                                 "'taml_tf.products.evaluation')\n"),
        'method/unreadable.py': 'import importlib\nimportlib.import_module(NAME)\n',
        'products/uses_flags.py': 'from taml_tf.flags import definitions\n',
        'products/uses_launch.py': 'def f():\n  import taml_tf.launch.train\n',
        'products/uses_absl_flags.py': 'from absl import flags\n',
    }
    for name, source in planted.items():
      with open(os.path.join(root, name), 'w', encoding='utf-8') as f:
        f.write(source)
    found = {(path, line, module) for path, line, module, _ in violations(root)}
    expected = {
        ('method/front_door.py', 1, 'taml_tf.execution.trainer'),
        ('method/front_door_attribute.py', 5, 'taml_tf.data.pipeline'),
        # `*` imports every public name: the higher layers' modules are reported.
        ('data/front_door_star.py', 1, 'taml_tf.execution.execution_config'),
        ('data/front_door_star.py', 1, 'taml_tf.execution.threads'),
        ('data/front_door_star.py', 1, 'taml_tf.execution.trainer'),
        ('data/front_door_star.py', 1, 'taml_tf.products.evaluation'),
        ('data/front_door_star.py', 1, 'taml_tf.products.export'),
        ('data/front_door_star.py', 1, 'taml_tf.products.keras_model'),
        ('execution/dynamic.py', 2, 'taml_tf.products.evaluation'),
        ('method/unreadable.py', 2, DYNAMIC),
        ('products/uses_flags.py', 1, 'taml_tf.flags.definitions'),
        ('products/uses_launch.py', 2, 'taml_tf.launch.train'),
        ('products/uses_absl_flags.py', 1, 'absl.flags'),
    }
    self.assertEqual(found, {(p.replace('/', os.sep), l, m) for p, l, m in expected})


if __name__ == '__main__':
  unittest.main()
