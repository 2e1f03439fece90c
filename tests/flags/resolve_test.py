"""Flags -> configs: the authors' flags map to the right fields; every contradictory or invalid
combination fails with a message naming the flags (on a fresh FlagValues per test)."""

import json
import os
import re
import shutil

from absl import flags
from absl.testing import absltest
from absl.testing import parameterized

from taml_tf.data import experiment
from taml_tf.execution import execution_config
from taml_tf.execution import run_dir
from taml_tf.execution import trainer as trainer_lib
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.method import config as config_lib
from tests import helpers as tt


def parse(*args):
  values = flags.FlagValues()
  for define in (definitions.define_run_flags, definitions.define_data_flags,
                 definitions.define_model_flags, definitions.define_train_flags,
                 definitions.define_eval_flags, definitions.define_export_flags):
    define(values)
    define(values)  # idempotent per FlagValues
  values(['prog', *args])
  return values


def resolve_all(*args):
  values = parse(*args)
  data = resolve.data_config(values)
  resolve.execution_config(values)  # checked too
  return data, resolve.model_config(values, data.image_shape), resolve.train_config(values)


def run_configs(*args):
  """(model, train, data, execution): what taml-train resolves from these flags."""
  values = parse('--savedir=/tmp/r', '--image_size=16', *args)
  data = resolve.data_config(values)
  return (resolve.model_config(values, data.image_shape), resolve.train_config(values),
          data.to_dict(), resolve.execution_config(values))


def run_config(*args):
  """The config.json that taml-train writes for these flags."""
  return run_dir.resolved_config(*run_configs(*args))


def check_resumable(saved, *args):
  """run_dir.check_resumable of a saved config.json against a resumption with these flags."""
  model, train, data, _ = run_configs(*args)
  run_dir.check_resumable(saved, model, train, data)


class ResolveTest(parameterized.TestCase):

  def test_defaults(self):
    data, model, train = resolve_all()
    self.assertEqual(data.id_datasets, ('embedded',))
    self.assertEqual(resolve.execution_config(parse()), execution_config.ExecutionConfig(
        pad_to='bucket'))
    self.assertTrue(model.alpha_on and model.omega_on and model.gamma_on and model.z_on)
    self.assertFalse(model.deterministic)
    self.assertEqual(train.num_steps, 50000)
    self.assertNotIn('x', flags.FLAGS)  # nothing leaks to the global flags

  def test_authors_flags_map_to_fields(self):
    args = ('--savedir=/tmp/r', '--id_dataset=omniglot', '--ood_dataset=mnist,embedded_ood',
            '--way=10', '--max_shot=7', '--query=3', '--n_steps=2', '--n_test_steps=4',
            '--metabatch=8', '--meta_lr=0.01', '--alpha_on', '--omega_on', '--n_mc_samples=3',
            '--n_train_iters=99', '--save_freq=11', '--seed=4', '--first_order',
            '--jit_compile', '--n_channels=8', '--sequential_tasks', '--steps_per_call=5',
            '--precision=mixed_bfloat16', '--recompute')
    data, model, train = resolve_all(*args)
    self.assertEqual((data.way, data.max_shot, data.query), (10, 7, 3))
    self.assertEqual(data.ood_datasets, ('mnist', 'embedded_ood'))
    # --jit_compile needs fixed shapes.
    self.assertEqual(resolve.execution_config(parse(*args)), execution_config.ExecutionConfig(
        jit_compile=True, sequential_tasks=True, static_shapes=True, pad_to='max',
        steps_per_call=5, precision='mixed_bfloat16', recompute=True))
    self.assertEqual(data.image_shape, (28, 28, 1))
    # Switches alone, as in the authors' run scripts: the others are off.
    self.assertEqual((model.alpha_on, model.omega_on, model.gamma_on, model.z_on),
                     (True, True, False, False))
    self.assertEqual((model.train_inner_steps, model.test_inner_steps), (2, 4))
    self.assertEqual((model.max_way, model.max_shot, model.channels), (10, 7, 8))
    self.assertEqual((model.meta_lr, model.n_mc_samples), (0.01, 3))
    self.assertTrue(model.first_order)
    self.assertEqual((train.savedir, train.meta_batch, train.num_steps, train.save_freq,
                      train.seed), ('/tmp/r', 8, 99, 11, 4))

  @parameterized.named_parameters(
      ('maml_switches', ['--noalpha_on'], (False, False, False, False)),
      ('maml_inner_lr', ['--noalpha_on', '--inner_lr=0.4'], (False, False, False, False)),
      ('metasgd', ['--alpha_on'], (True, False, False, False)),
      ('variant', ['--variant=z_taml'], (True, False, False, True)),
      ('variant_agrees', ['--variant=gamma_taml', '--gamma_on'], (True, False, True, False)))
  def test_switches(self, args, expected):
    _, model, _ = resolve_all(*args)
    self.assertEqual((model.alpha_on, model.omega_on, model.gamma_on, model.z_on), expected)

  def test_deterministic_variant(self):
    _, model, _ = resolve_all('--variant=deterministic_taml')
    self.assertTrue(model.deterministic)

  @parameterized.named_parameters(
      ('variant_vs_switch', ['--variant=maml', '--omega_on'],
       '--variant=maml contradicts --omega_on=True'),
      ('variant_vs_off', ['--variant=bayesian_taml', '--noz_on'],
       '--variant=bayesian_taml contradicts --z_on=False'),
      ('tpu_without_strategy', ['--tpu=x'], "--tpu='x' needs --strategy=tpu"),
      ('bucket_with_jit', ['--pad_to=bucket', '--jit_compile'],
       "invalid execution flags.*pad_to='bucket' contradicts static shapes (jit_compile"),
      ('bucket_with_tpu', ['--pad_to=bucket', '--strategy=tpu'],
       "invalid execution flags.*pad_to='bucket' contradicts static shapes (jit_compile or a "
       'TPU'),
      ('zero_steps_per_call', ['--steps_per_call=0'], 'steps_per_call must be >= 1'),
      ('inner_lr_with_alpha', ['--variant=metasgd', '--inner_lr=0.1'], '--inner_lr'),
      ('mc_with_deterministic', ['--variant=deterministic_taml', '--n_mc_samples=3'],
       '--n_mc_samples has no effect on a deterministic'),
      ('min_way_above_way', ['--way=3', '--min_way=4'], 'min_way <= way'),
      ('image_channels', ['--image_channels=2'], '--image_channels must be 1 or 3'),
      ('empty_id', ['--id_dataset='], '--id_dataset is empty'),
      ('duplicate_sets', ['--id_dataset=mnist', '--ood_dataset=mnist'], 'distinct'),
      ('deterministic_alone', ['--deterministic'], 'deterministic=True needs'),
      ('tiny_images', ['--image_size=8'], 'too small'),
      ('zero_steps', ['--n_train_iters=0'], 'num_steps must be >= 1'),
      ('zero_metabatch', ['--metabatch=0'], 'meta_batch must be >= 1'),
      ('bn_switch_with_first_order', ['--nobn_second_order', '--first_order'],
       'bn_second_order=False contradicts first_order=True'),
  )
  def test_invalid_flags(self, args, message):
    with self.assertRaisesRegex(resolve.FlagError, message.replace('(', r'\(')
                                .replace('[', r'\[')):
      resolve_all(*args)

  def test_bad_enum_is_rejected_by_absl(self):
    with self.assertRaisesRegex(flags.IllegalFlagValueError, 'strategy'):
      parse('--strategy=horovod')

  def test_metabatch_not_divisible_by_replicas(self):
    with self.assertRaisesRegex(ValueError, 'meta_batch=3 is not divisible by the 2 replicas'):
      tt.make_trainer(tt.tmpdir(self), meta_batch=3, strategy=tt.mirrored())

  def test_unknown_and_missing_data_fail_at_source_build(self):
    data, _, train = resolve_all('--id_dataset=no_such_dataset_xyz', '--image_size=16')
    with self.assertRaisesRegex((ValueError, FileNotFoundError), 'no_such_dataset_xyz'):
      experiment.train_dataset_fn(data, train.seed, train.meta_batch)
    missing = os.path.join(tt.tmpdir(self), 'missing.npz')
    data, _, train = resolve_all(f'--id_dataset={missing}')
    with self.assertRaisesRegex(FileNotFoundError, 'missing.npz'):
      experiment.train_dataset_fn(data, train.seed, train.meta_batch)

  def test_a_run_resumes_with_other_execution_flags_only(self):
    saved = run_config()
    for args in (['--jit_compile'], ['--pad_to=max'], ['--steps_per_call=5'],
                 ['--sequential_tasks'], ['--strategy=tpu', '--steps_per_call=50'],
                 ['--precision=mixed_bfloat16', '--recompute']):
      with self.subTest(str(args)):
        check_resumable(saved, *args)
    # A config.json of the layout before ExecutionConfig: the same settings in the model,
    # data and train sections.
    old = json.loads(json.dumps(saved))
    del old['execution']
    old['model'].update(jit_compile=False, sequential_tasks=False)
    old['data']['pad_to'] = 'bucket'
    old['train']['steps_per_call'] = 1
    check_resumable(old, '--jit_compile', '--steps_per_call=3')
    for previous in (saved, old):
      with self.assertRaisesRegex(run_dir.IncompatibleRunError, 'model.channels'):
        check_resumable(previous, '--jit_compile', '--n_channels=8')

  def test_an_earlier_run_evaluates_with_its_saved_model(self):
    savedir = os.path.join(tt.tmpdir(self), 'run')
    shutil.copytree(os.path.join(tt.TESTDATA, 'main_run'), savedir)
    model, data = resolve.evaluation_configs(parse(f'--savedir={savedir}', '--jit_compile'))
    self.assertEqual(model, tt.tiny_model('metasgd'))
    self.assertEqual(data, tt.tiny_data())

  def test_evaluation_overrides_and_saved_configs(self):
    savedir = tt.tmpdir(self)
    tt.make_trainer(savedir).restore()  # writes config.json
    model, data, train = resolve.saved_configs(savedir)
    self.assertEqual(model, tt.tiny_model())
    self.assertEqual(data, tt.tiny_data())
    self.assertIsInstance(train, trainer_lib.TrainConfig)
    values = parse('--n_test_steps=7', '--ood_dataset=mnist', '--data_dir=/d')
    model2, data2 = resolve.evaluation_overrides(values, model, data)
    self.assertEqual(model2.test_inner_steps, 7)
    self.assertEqual(model2.n_mc_samples, model.n_mc_samples)  # not given: kept
    self.assertEqual((data2.ood_datasets, data2.data_dir), (('mnist',), '/d'))
    self.assertEqual((data2.way, model2.max_way), (data.way, model.max_way))  # not given: kept

  def test_evaluation_way_override_widens_the_model(self):
    model, data = tt.tiny_model(), tt.tiny_data()  # trained 3-way
    model2, data2 = resolve.evaluation_overrides(parse('--way=7'), model, data)
    self.assertEqual((data2.way, model2.max_way), (7, 7))
    self.assertEqual(model2.replace(max_way=model.max_way), model)  # nothing else changes
    model2, data2 = resolve.evaluation_overrides(parse('--way=2'), model, data)
    self.assertEqual((data2.way, model2.max_way), (2, model.max_way))
    model2, data2 = resolve.evaluation_overrides(parse('--min_way=2', '--way=6'), model, data)
    self.assertEqual((data2.min_way, data2.way, model2.max_way), (2, 6, 6))
    with self.assertRaisesRegex(resolve.FlagError, 'invalid meta-test flags'):
      resolve.evaluation_overrides(parse('--min_way=5', '--way=4'), model, data)

    # A flagfile shared with taml-train: --n_steps is then the training one.
    values = parse('--n_steps=2', '--n_test_steps=7')
    self.assertEqual(resolve.evaluation_overrides(values, model, data)[0].test_inner_steps, 7)

  def test_saved_run_checks_the_switches_and_fixed_flags(self):
    savedir = tt.tmpdir(self)
    tt.make_trainer(savedir).restore()  # writes config.json
    model, data, _ = resolve.saved_configs(savedir)
    switches = [f'--{"" if getattr(model, n) else "no"}{n}'
                for n in ('alpha_on', 'omega_on', 'gamma_on', 'z_on')]
    same = parse(f'--savedir={savedir}', *switches, f'--n_channels={model.channels}',
                 f'--way={data.way}', '--metabatch=9', '--n_train_iters=3', '--n_test_steps=4')
    got_model, got_data = resolve.evaluation_configs(same)
    self.assertEqual(got_model, model.replace(test_inner_steps=4))
    self.assertEqual(got_data, data)
    # A wider --way is a meta-test setting, not a contradiction: the model's max_way grows.
    wide_model, wide_data = resolve.evaluation_configs(
        parse(f'--savedir={savedir}', f'--way={data.way + 2}'))
    self.assertEqual((wide_data.way, wide_model.max_way), (data.way + 2, data.way + 2))
    for args, message in (
        ([f'--{"no" if model.z_on else ""}z_on'], f'--z_on={not model.z_on} (run: {model.z_on})'),
        (['--variant=maml'], '--alpha_on=False'),
        ([f'--n_channels={model.channels + 1}'], f'--n_channels={model.channels + 1} (run: '),
        (['--id_dataset=mnist'], '--id_dataset=[\'mnist\']'),
        (['--authors_padding'], '--authors_padding=True (run: False)'),
        (['--nobn_second_order'], '--bn_second_order=False (run: True)'),
        ([f'--n_steps={model.train_inner_steps + 1}', '--n_test_steps=3'], '--n_steps=')):
      with self.subTest(args=args):
        with self.assertRaisesRegex(resolve.FlagError, re.escape(message)):
          resolve.evaluation_configs(parse(f'--savedir={savedir}', *args))


  def test_authors_switches_and_their_meta_test_padding(self):
    _, model, _ = resolve_all('--nobn_second_order', '--authors_padding')
    self.assertEqual((model.bn_second_order, model.authors_padding), (False, True))
    saved = config_lib.variant('metasgd', authors_padding=True)
    train = trainer_lib.TrainConfig(savedir='/tmp/r', meta_batch=4)
    # A run trained with the authors' padding meta-tests in padded meta-batches of its own
    # meta-batch size, unless --test_padding=none.
    self.assertEqual(resolve.padded_meta_batch(parse('--metabatch=9'), saved, train), 4)
    self.assertIsNone(resolve.padded_meta_batch(parse('--test_padding=none'), saved, train))
    plain = saved.replace(authors_padding=False)
    self.assertIsNone(resolve.padded_meta_batch(parse(), plain, train))
    with self.assertRaisesRegex(resolve.FlagError, '--test_padding=run: the run .* was trained '
                                'without --authors_padding'):
      resolve.padded_meta_batch(parse('--test_padding=run'), plain, train)


if __name__ == '__main__':
  absltest.main()
