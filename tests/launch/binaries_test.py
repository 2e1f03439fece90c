"""End-to-end tests of taml-train / taml-evaluate / taml-export on the real Omniglot -> MNIST
data: train, kill and resume, evaluate, export, serve; --help, --flagfile and bad flags; and
the README's main job (launch/main_job.sh) on the embedded offline data.

Every binary runs as a subprocess (``python -m taml_tf.launch.<name>``), as users run it. One
trained run is shared by the class (setUpClass): each subprocess costs TF start-up + tracing.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import tensorflow as tf

from taml_tf.data import experiment
from taml_tf.execution import run_dir
from taml_tf.execution import threads
from taml_tf.flags import resolve
from taml_tf.products import figures
from taml_tf.products import model_card
from taml_tf.products import reports
from tests import real_data
from tests.helpers import DATA_FILES
from tests.helpers import ENV
from tests.helpers import REPO
from tests.helpers import STEPS
from tests.helpers import binary
from tests.helpers import console_script
from tests.helpers import module
from tests.helpers import side_by_side
from tests.helpers import variables
from tests.helpers import TINY
from tests.products.comparison_test import write_eval

# The authors' flags and the new ones the issue lists (export_dir is taml-export's).
ISSUE_FLAGS = ('savedir id_dataset ood_dataset way max_shot query n_steps metabatch meta_lr '
               'inner_lr alpha_on omega_on gamma_on z_on n_mc_samples n_train_iters '
               'n_test_episodes save_freq data_dir strategy tpu jit_compile first_order '
               'seed').split()


class BinariesTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = real_data.require(*DATA_FILES)
    cls.root = tempfile.mkdtemp(prefix='binaries_test_')
    cls.run_dir = os.path.join(cls.root, 'run')
    cls.train = binary('train', *TINY, f'--data_dir={cls.data_dir}', f'--savedir={cls.run_dir}')

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(getattr(cls, 'root', ''), ignore_errors=True)
    super().tearDownClass()

  def test_train_writes_a_complete_run(self):
    self.assertIn(f'trained {STEPS} steps', self.train.stdout)
    self.assertRegex(self.train.stderr, r'step 8/8 +loss [\d.]+ .*acc [\d.]+ .*steps/s .*left')
    # The measured default pools, set before the first op (unless the environment sets them).
    inter, intra = threads.default_pools()
    if threads.ENV_INTER_OP in ENV:
      inter = 0
    if threads.ENV_INTRA_OP in ENV:
      intra = 0
    self.assertIn(f'thread pools: inter-op {inter}, intra-op {intra}', self.train.stderr)
    config = json.load(open(os.path.join(self.run_dir, 'config.json')))
    self.assertEqual(config['data']['id_datasets'], ['omniglot'])
    self.assertEqual(config['data']['ood_datasets'], ['mnist'])
    self.assertEqual(config['model']['channels'], 4)
    self.assertTrue(config['model']['omega_on'] and config['model']['z_on'])  # bayesian_taml
    latest = tf.train.latest_checkpoint(os.path.join(self.run_dir, 'checkpoints'))
    self.assertTrue(latest.endswith(f'ckpt-{STEPS}'), latest)
    best = json.load(open(os.path.join(self.run_dir, 'best', 'best.json')))
    self.assertIn(best['step'], (3, 6, 8))
    self.assertEqual(set(best['accuracy']), {'omniglot', 'mnist'})

  def test_killed_run_resumes_to_the_uninterrupted_parameters(self):
    savedir = os.path.join(self.root, 'killed')
    ckpts = os.path.join(savedir, 'checkpoints')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'taml_tf.launch.train', *TINY, f'--data_dir={self.data_dir}',
         f'--savedir={savedir}'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
      deadline = time.time() + 240
      while not (os.path.isdir(ckpts) and tf.train.latest_checkpoint(ckpts)):
        self.assertIsNone(proc.poll(), 'training ended before its first checkpoint was seen')
        self.assertLess(time.time(), deadline)
        time.sleep(0.02)
      self.assertIsNone(proc.poll(), 'training ended before it could be killed')
      proc.send_signal(signal.SIGKILL)
    finally:
      proc.kill()
      proc.wait()
    self.assertEqual(proc.returncode, -signal.SIGKILL)
    killed_at = int(tf.train.latest_checkpoint(ckpts).rsplit('-', 1)[1])
    self.assertLess(killed_at, STEPS)
    resumed = binary('train', *TINY, f'--data_dir={self.data_dir}', f'--savedir={savedir}')
    self.assertRegex(resumed.stderr, f'resumed from .*ckpt-{killed_at} at step {killed_at}')
    self.assertIn(f'trained {STEPS} steps', resumed.stdout)
    got = variables(os.path.join(ckpts, f'ckpt-{STEPS}'))
    want = variables(os.path.join(self.run_dir, 'checkpoints', f'ckpt-{STEPS}'))
    self.assertEqual(sorted(got), sorted(want))
    self.assertEqual(int(got['step/.ATTRIBUTES/VARIABLE_VALUE']), STEPS)
    iterations = [k for k in got if k.endswith('iterations/.ATTRIBUTES/VARIABLE_VALUE')
                  or 'iteration' in k]
    self.assertTrue(iterations, sorted(got)[:20])
    for k in iterations:
      self.assertEqual(int(got[k]), STEPS, k)
    # Even with --op_determinism, two processes differ in the last bits on slots of ~zero
    # gradients (Adam velocities ~1e-16, oneDNN CPU kernels): close, not bit-equal.
    for k in want:
      np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-8, err_msg=k)

  def test_sigterm_checkpoints_the_step_and_resumes_to_the_uninterrupted_parameters(self):
    # A preemption (SIGTERM) mid-run: the run checkpoints the step it reached (save_freq=5,
    # so that checkpoint is the preemption's own unless the step is 5), says so and exits
    # with the restart status; the same command then finishes the run.
    savedir = os.path.join(self.root, 'preempted')
    ckpts = os.path.join(savedir, 'checkpoints')
    args = [*TINY, '--save_freq=5', f'--data_dir={self.data_dir}', f'--savedir={savedir}']
    out, err = (os.path.join(self.root, f'preempted.{n}') for n in ('out', 'err'))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    with open(out, 'w') as stdout, open(err, 'w') as stderr:
      proc = subprocess.Popen([sys.executable, '-m', 'taml_tf.launch.train', *args],
                              stdout=stdout, stderr=stderr, env=env)
    try:
      deadline = time.time() + 240
      while 'step 3/8' not in open(err).read():  # mid-run; step 3 is validated next
        self.assertIsNone(proc.poll(), 'training ended before step 3 was seen')
        self.assertLess(time.time(), deadline)
        time.sleep(0.02)
      proc.send_signal(signal.SIGTERM)
      proc.wait(timeout=120)
    finally:
      proc.kill()
      proc.wait()
    stdout, stderr = open(out).read(), open(err).read()
    self.assertEqual(proc.returncode, 42, stderr[-3000:])
    self.assertNotIn('Traceback', stderr)
    match = re.search(r'taml-train: received SIGTERM: stopped at step (\d+)/8; checkpoint '
                      r'(\S+) written; run the same command to resume', stdout)
    self.assertIsNotNone(match, stdout)
    stopped_at = int(match.group(1))
    self.assertGreaterEqual(stopped_at, 3)
    self.assertLess(stopped_at, STEPS)
    self.assertEqual(match.group(2), os.path.join(ckpts, f'ckpt-{stopped_at}'))
    self.assertEqual(tf.train.latest_checkpoint(ckpts), match.group(2))
    self.assertEqual(int(variables(match.group(2))['step/.ATTRIBUTES/VARIABLE_VALUE']),
                     stopped_at)
    resumed = binary('train', *args)
    self.assertRegex(resumed.stderr, f'resumed from .*ckpt-{stopped_at} at step {stopped_at}')
    self.assertIn(f'trained {STEPS} steps', resumed.stdout)
    got = variables(os.path.join(ckpts, f'ckpt-{STEPS}'))
    want = variables(os.path.join(self.run_dir, 'checkpoints', f'ckpt-{STEPS}'))
    self.assertEqual(sorted(got), sorted(want))
    # save_counter counts checkpoint writes (here one more at the stop, and save_freq differs),
    # not training state.
    del got['save_counter/.ATTRIBUTES/VARIABLE_VALUE']
    # The tolerance of test_killed_run_resumes_to_the_uninterrupted_parameters.
    for k in got:
      np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-8, err_msg=k)
    best = lambda run: json.load(open(os.path.join(run, 'best', 'best.json')))['step']
    self.assertEqual(best(savedir), best(self.run_dir))

  def test_evaluate_reports_both_data_sets(self):
    table = os.path.join(self.root, 'table')
    out = os.path.join(table, 'tiny', 'results')
    proc = binary('evaluate', f'--savedir={self.run_dir}', '--n_test_episodes=3',
                  f'--output_dir={out}')
    results = json.load(open(os.path.join(out, 'results.json')))
    text = json.dumps(results)
    for name in ('omniglot', 'mnist'):
      self.assertIn(name, text)
      self.assertIn(name, proc.stdout)  # the markdown table
    numbers = []

    def collect(x):
      if isinstance(x, dict):
        for v in x.values():
          collect(v)
      elif isinstance(x, list):
        for v in x:
          collect(v)
      elif isinstance(x, (int, float)) and not isinstance(x, bool):
        numbers.append(x)

    collect(results)
    self.assertTrue(numbers)
    self.assertTrue(all(math.isfinite(v) for v in numbers))
    self.assertTrue(os.path.exists(os.path.join(out, 'results.md')))
    # taml-compare tabulates the evaluation (one run: no paired differences).
    md = os.path.join(self.root, 'comparison.md')
    proc = binary('compare', f'--runs={table}', f'--output={md}')
    mnist = results['datasets']['mnist']
    row = (f'| tiny | {"MC" if results["mode"] == "mc" else "mean"}')
    with open(md) as f:
      text = f.read()
    self.assertIn(row, text)
    self.assertIn(f'{100 * mnist["accuracy"]:.2f} ± {100 * mnist["ci95"]:.2f}', text)
    self.assertIn(text.strip(), proc.stdout)
    proc = binary('compare', f'--runs={os.path.join(table, "tiny")}', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('no evaluated run under', proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)

  def test_figures_draw_one_checkpoint_with_its_evaluation(self):
    results = os.path.join(self.root, 'results_step_4')
    binary('evaluate', f'--savedir={self.run_dir}', '--checkpoint=4', '--n_test_episodes=4',
           f'--output_dir={results}')
    out = os.path.join(self.root, 'figures_step_4')
    proc = binary('figures', f'--savedir={self.run_dir}', '--checkpoint=4',
                  f'--results_dir={results}', f'--out_dir={out}', '--tendency_tasks=2')
    with open(os.path.join(out, 'figures.json')) as f:
      summary = json.load(f)
    self.assertEqual(os.path.basename(summary['checkpoint']), 'ckpt-4')
    self.assertEqual(summary['results_dir'], results)
    for name in ('training', 'z_shift', 'gamma_tendency', 'reliability_omniglot',
                 'reliability_mnist'):
      self.assertIn(os.path.join(out, f'{name}.png'), proc.stdout)
      with open(os.path.join(out, f'{name}.png'), 'rb') as f:
        self.assertEqual(f.read(4), b'\x89PNG', name)
    # The numbers are those of checkpoint 4 and of that evaluation, not of the best checkpoint
    # or the run's default results.
    _, arrays = reports.read_results(results)
    self.assertEqual(summary['z_relative_change']['mnist']['mean'],
                     float(arrays['z_relative_change'][arrays['dataset'] == 'mnist'].mean()))
    model, data, _ = resolve.saved_configs(self.run_dir)
    learner = run_dir.restore_learner(model, run_dir.checkpoint_path(self.run_dir, '4'))
    source = experiment.build_source(data, 'omniglot', data.test_split)
    shots = [s // data.way for s in summary['gamma_tendency']['task_sizes']]
    self.assertEqual(shots, [1, 2, 4])
    np.testing.assert_allclose(
        summary['gamma_tendency']['exp_gamma'],
        figures.gamma_tendency(learner, source, shots, data.way, tasks=2), rtol=1e-5)
    proc = binary('figures', f'--savedir={self.run_dir}', '--checkpoint=5',
                  f'--results_dir={results}', f'--out_dir={out}', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('no checkpoint at step 5', proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)

  def test_export_serves_a_real_mnist_task(self):
    target = os.path.join(self.root, 'saved_model')
    binary('export', f'--savedir={self.run_dir}', f'--export_dir={target}')
    model = tf.saved_model.load(target)
    with np.load(os.path.join(self.data_dir, 'mnist_test.npz')) as d:
      images, labels = d['images'], d['labels']
    rng = np.random.default_rng(0)
    support, support_labels, query = [], [], []
    for c, digit in enumerate((3, 7, 9)):
      rows = rng.permutation(np.flatnonzero(labels == digit))
      support += list(images[rows[:2]])
      support_labels += [c, c]
      query += list(images[rows[2:4]])
    as_input = lambda x: tf.constant(np.stack(x)[..., None].astype(np.float32) / 255.0)
    out = model.signatures['adapt_and_predict'](
        support_images=as_input(support),
        support_labels=tf.constant(support_labels, tf.int32), query_images=as_input(query))
    probs = out['probs'].numpy()
    self.assertEqual(probs.shape, (6, 3))
    self.assertTrue(np.all(np.isfinite(probs)))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # An existing export is not replaced silently.
    again = binary('export', f'--savedir={self.run_dir}', f'--export_dir={target}',
                   check=False)
    self.assertNotEqual(again.returncode, 0)
    self.assertIn('--overwrite', again.stderr)

  def test_evaluate_saved_model_reproduces_the_run_evaluation(self):
    # A published SavedModel is checked without its run folder: its model card's
    # taml-evaluate --saved_model command (the same tasks and inner steps) gives the run's own
    # evaluation.
    common = ['--n_test_episodes=3', '--eval_mode=mean']
    from_run = os.path.join(self.root, 'from_run')
    binary('evaluate', f'--savedir={self.run_dir}', f'--output_dir={from_run}', *common)
    target = os.path.join(self.root, 'evaluated_model')
    # Results of other inner steps than the export serves are refused before anything is
    # written.
    refused = binary('export', f'--savedir={self.run_dir}', f'--export_dir={target}',
                     f'--results_dir={from_run}', '--n_test_steps=2', check=False)
    self.assertNotEqual(refused.returncode, 0)
    self.assertIn('the results used 1 inner steps, the export serves 2', refused.stderr)
    self.assertFalse(os.path.exists(target))
    binary('export', f'--savedir={self.run_dir}', f'--export_dir={target}',
           f'--results_dir={from_run}', '--card_note=trained by binaries_test')
    with open(os.path.join(target, 'MODEL_CARD.md')) as f:
      card = f.read()
    # The budget is the exported (best) checkpoint's step, not the run's.
    best = json.load(open(os.path.join(self.run_dir, 'best', 'best.json')))['step']
    self.assertNotEqual(best, STEPS)
    self.assertIn(f'# evaluated_model: omniglot -> mnist, {best} meta-updates', card)
    self.assertIn('- trained by binaries_test', card)
    args = model_card.evaluate_args(card)
    from_model = os.path.join(self.root, 'from_model')
    binary('evaluate', *args, f'--output_dir={from_model}', f'--data_dir={self.data_dir}')
    a = json.load(open(os.path.join(from_run, 'results.json')))['datasets']
    b = json.load(open(os.path.join(from_model, 'results.json')))['datasets']
    self.assertEqual(sorted(a), ['mnist', 'omniglot'])
    for name in a:
      self.assertEqual(a[name]['episode_accuracy'], b[name]['episode_accuracy'], name)
      self.assertAlmostEqual(a[name]['nll'], b[name]['nll'], places=4)
      self.assertIn(f"{100 * a[name]['accuracy']:.2f} ± {100 * a[name]['ci95']:.2f}", card)
    both = binary('evaluate', f'--saved_model={target}', f'--savedir={self.run_dir}',
                  check=False)
    self.assertNotEqual(both.returncode, 0)
    self.assertIn('--saved_model and --savedir both name the model', both.stderr)
    bf16 = binary('evaluate', f'--saved_model={target}', '--precision=mixed_bfloat16',
                  check=False)
    self.assertNotEqual(bf16.returncode, 0)
    self.assertIn('an exported SavedModel computes in float32', bf16.stderr)
    # A run's checkpoint meta-tests in bfloat16 on request, and the results say so.
    in_bf16 = os.path.join(self.root, 'from_run_bf16')
    binary('evaluate', f'--savedir={self.run_dir}', f'--output_dir={in_bf16}',
           '--precision=mixed_bfloat16', *common)
    got = json.load(open(os.path.join(in_bf16, 'results.json')))
    self.assertEqual(got['precision'], 'mixed_bfloat16')
    self.assertEqual(json.load(open(os.path.join(from_run, 'results.json')))['precision'],
                     'float32')
    for name in a:
      self.assertNotEqual(got['datasets'][name]['nll'], a[name]['nll'], name)

  def test_a_model_trained_3_way_serves_and_evaluates_wider_tasks(self):
    # Nothing in the model depends on the way (zero head with one shared alpha column; the set
    # encoder pools over classes): the 3-way run serves 7- and 10-way tasks of held-out
    # Omniglot characters above chance, and its 3-way answers do not change with the limit.
    target = os.path.join(self.root, 'wide_model')
    binary('export', f'--savedir={self.run_dir}', f'--export_dir={target}')  # --max_way=20
    model = tf.saved_model.load(target)
    self.assertEqual(int(model.signatures['model_info']()['max_way']), 20)
    with open(os.path.join(target, 'assets.extra', 'model_config.json')) as f:
      self.assertEqual(json.load(f)['max_way'], 20)
    predict = model.signatures['adapt_and_predict']
    characters = real_data.omniglot_characters('evaluation')  # never seen in training
    rng = np.random.default_rng(0)

    def task(way, shot=5, queries=5):
      chosen = rng.choice(len(characters), way, replace=False)
      drawings = [rng.permutation(20) for _ in chosen]
      support = np.concatenate([characters[c, d[:shot]] for c, d in zip(chosen, drawings)])
      query = np.concatenate([characters[c, d[shot:shot + queries]]
                              for c, d in zip(chosen, drawings)])
      return (support, np.repeat(np.arange(way, dtype=np.int32), shot), query,
              np.repeat(np.arange(way), queries))

    accuracy = {}
    for way in (7, 10):
      accuracies = []
      for _ in range(20):
        support, labels, query, query_labels = task(way)
        probs = predict(support_images=tf.constant(support), support_labels=tf.constant(labels),
                        query_images=tf.constant(query))['probs'].numpy()
        self.assertEqual(probs.shape, (5 * way, way))
        accuracies.append(np.mean(probs.argmax(-1) == query_labels))
      accuracy[way] = float(np.mean(accuracies))
    # A 25% margin over chance; 20 tasks x 5 queries x way classes keep the standard error
    # of the 10-way accuracy near 0.01 (the 8-step model reached 0.144 on the first 10 tasks).
    for way in (7, 10):
      self.assertGreater(accuracy[way], 1.25 / way, accuracy)
    # Exactness: a 3-way task gets the same probabilities at max_way=20 as from the learner
    # restored with the training max_way=3.
    from taml_tf.method import episodes
    from taml_tf.execution import run_dir
    learner, _ = run_dir.restore(self.run_dir, 'best')
    self.assertEqual(learner.config.max_way, 3)
    support, labels, query, query_labels = task(3)
    expected, _ = learner.predict(episodes.to_tensors(episodes.from_arrays(
        support, labels, query, query_labels, max_way=3)), mode='mean')
    served = predict(support_images=tf.constant(support), support_labels=tf.constant(labels),
                     query_images=tf.constant(query))['probs']
    np.testing.assert_allclose(served, expected, atol=1e-5, rtol=0)
    # taml-evaluate meta-tests the 3-way run on 5-way tasks when asked to.
    out = os.path.join(self.root, 'wide_results')
    binary('evaluate', f'--savedir={self.run_dir}', '--way=5', '--n_test_episodes=2',
           '--eval_mode=mean', f'--output_dir={out}')
    with np.load(os.path.join(out, 'balancing.npz')) as arrays:
      self.assertEqual(arrays['way'].tolist(), [5] * 4)  # 2 episodes x (omniglot, mnist)

  def test_help_lists_every_flag_and_flagfile_works(self):
    # --flagfile: the tiny flags from a file; the run resumes the finished shared run (same
    # configuration), so it only proves the file was read and resolved to the same config.
    flagfile = os.path.join(self.root, 'tiny.cfg')
    with open(flagfile, 'w') as f:
      f.write('\n'.join(TINY + [f'--data_dir={self.data_dir}']) + '\n')
    # absl's --help exits with 1.
    train_help, export_help, proc = side_by_side([
        module('train', '--help'), module('export', '--help'),
        module('train', f'--flagfile={flagfile}', f'--savedir={self.run_dir}')])
    text = train_help.stdout
    for name in ISSUE_FLAGS + ['variant', 'eval_freq']:  # --flagfile: in --helpfull
      self.assertRegex(text, rf'--\[?(no)?\]?{name}\b', name)
    self.assertIn('authors\' flag', text)  # meanings are shown
    self.assertRegex(export_help.stdout, r'--export_dir:')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn(f'trained {STEPS} steps', proc.stdout)

  def test_one_flagfile_with_the_authors_switches_drives_all_three(self):
    # As the authors' scripts pass one set of flags to meta_train and meta_test: the shared
    # run's flags, with its variant given as the four switches (= bayesian_taml).
    flagfile = os.path.join(self.root, 'switches.cfg')
    with open(flagfile, 'w') as f:
      f.write('\n'.join(TINY + ['--alpha_on', '--omega_on', '--gamma_on', '--z_on',
                                 f'--data_dir={self.data_dir}', f'--savedir={self.run_dir}',
                                 '--n_test_episodes=2']) + '\n')
    trained = binary('train', f'--flagfile={flagfile}')  # the finished run: nothing to do
    self.assertIn(f'trained {STEPS} steps', trained.stdout)
    out = os.path.join(self.root, 'switches_results')
    target = os.path.join(self.root, 'switches_model')
    for proc in side_by_side([module('evaluate', f'--flagfile={flagfile}', f'--output_dir={out}'),
                              module('export', f'--flagfile={flagfile}',
                                     f'--export_dir={target}')]):
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertTrue(os.path.exists(os.path.join(out, 'results.json')))
    self.assertTrue(os.path.exists(os.path.join(target, 'saved_model.pb')))
    # A switch the run was not trained with is refused, not ignored.
    for name in ('evaluate', 'export'):
      with self.subTest(name=name):
        proc = binary(name, f'--flagfile={flagfile}', '--noz_on',
                      f'--export_dir={target}_z' if name == 'export' else f'--output_dir={out}_z',
                      check=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('--z_on=False (run: True)', proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertFalse(os.path.exists(f'{target}_z' if name == 'export' else f'{out}_z'))

  def test_bad_flags_fail_with_a_message(self):
    cases = [
        (['--variant=maml', '--omega_on'], '--variant=maml contradicts --omega_on=True'),
        (['--tpu=x'], "--tpu='x' needs --strategy=tpu"),
        ([f'--id_dataset={os.path.join(self.root, "nowhere.npz")}'], 'nowhere.npz'),
        (['--intra_op_threads=-1'], '--intra_op_threads must be >= 0'),
    ]
    procs = side_by_side([module('train', *args, f'--savedir={os.path.join(self.root, "bad")}',
                                 f'--data_dir={self.data_dir}') for args, _ in cases])
    for (args, message), proc in zip(cases, procs):
      with self.subTest(args=args):
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(message, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
    self.assertFalse(os.path.exists(os.path.join(self.root, 'bad', 'checkpoints')))

  def test_evaluate_without_a_run_fails_clearly(self):
    empty = tempfile.mkdtemp(dir=self.root)
    proc = binary('evaluate', f'--savedir={empty}', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('config.json not found', proc.stderr)
    self.assertIn('taml-tf training folder', proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)


class CompareSeedsTest(unittest.TestCase):
  """taml-compare --seeds on small hand-made runs (no training): the table across seeds, and
  the error that names a missing seed."""

  def test_compare_across_seeds(self):
    with tempfile.TemporaryDirectory() as root:
      shots = np.array([[1, 2, 3], [3, 3, 3]])
      # bayesian_taml - maml: +.1 at seed 0, +.2 at seed 1 on both episodes; maml_authors lacks
      # seed 1.
      for run, per_seed in (('maml', ([0.5, 0.5], [0.4, 0.4])),
                            ('bayesian_taml', ([0.6, 0.6], [0.6, 0.6])),
                            ('maml_authors', ([0.3, 0.3],))):
        for seed, acc in enumerate(per_seed):
          name = run if seed == 0 else f'{run}_seed{seed}'
          write_eval(os.path.join(root, name, 'results', 'step_4'), acc, shots)
      md = os.path.join(root, 'seeds.md')
      common = [f'--runs={root}', '--results=results/step_4', '--seeds=0,1']
      full, partial, strict = side_by_side([
          module('compare', *common, '--pairs=bayesian_taml-maml', f'--output={md}'),
          module('compare', *common, '--pairs=maml-maml_authors', '--allow_missing_seeds'),
          module('compare', *common, '--pairs=bayesian_taml-maml,maml-maml_authors')])
      self.assertEqual(full.returncode, 0, full.stderr[-3000:])
      # Seed means .1 and .2: mean .15, sample std .05 sqrt(2), t_{0.975, 1} = 12.706205.
      half = 100 * 12.706205 * 0.05 * math.sqrt(2) / math.sqrt(2)
      row = (f'| bayesian_taml (mean) - maml (mean) | mnist | +10.00 ± 0.00 (2 ep.) | '
             f'+20.00 ± 0.00 (2 ep.) | 2 | +15.00 ± {half:.2f} | yes | no |')
      with open(md) as f:
        text = f.read()
      self.assertIn(row, text)
      self.assertIn('Student-t 95% interval', text)
      self.assertIn(text.strip(), full.stdout)
      self.assertEqual(partial.returncode, 0, partial.stderr[-3000:])
      self.assertIn('| maml (mean) - maml_authors (mean) | omniglot | +20.00 ± 0.00 (2 ep.) | '
                    'missing | 1 | +20.00 ± n/a | n/a | n/a |', partial.stdout)
      self.assertNotEqual(strict.returncode, 0)
      self.assertIn(f'{os.path.join(root, "maml_authors_seed1")} does not exist', strict.stderr)
      self.assertNotIn('Traceback', strict.stderr)


class ConsoleScriptsTest(unittest.TestCase):
  """The console scripts pip installs (.venv/bin/taml-*), run as a user runs them."""

  def test_help_lists_the_flags(self):
    # A console script's __main__ is pip's shim, not the launch module: absl's --help printed
    # only "Try --helpfull" there (issue 10) while `python -m taml_tf.launch.<name>` worked.
    expected = {'train': ['id_dataset', 'alpha_on', 'n_train_iters'],
                'evaluate': ['savedir', 'n_test_episodes', 'eval_mode'],
                'export': ['export_dir', 'overwrite', 'checkpoint', 'results_dir'],
                'benchmark': ['plan', 'iterations', 'profile_dir'],
                'figures': ['compare', 'out_dir', 'checkpoint', 'results_dir'],
                'compare': ['runs', 'references', 'seeds', 'pairs', 'allow_missing_seeds']}
    paths = {name: console_script(name) for name in expected}
    missing = sorted(name for name, path in paths.items() if path is None)
    if missing:
      self.fail(f'taml-{missing} not installed next to {sys.executable} (pip install -e .)')
    procs = side_by_side([[paths[name], '--help'] for name in expected])
    for (name, flag_names), proc in zip(expected.items(), procs):
      with self.subTest(name=name):
        for flag in flag_names:
          self.assertRegex(proc.stdout, rf'--\[?(no)?\]?{flag}\b', f'taml-{name}: {flag}\n'
                           f'{proc.stdout[-2000:]}{proc.stderr[-2000:]}')


class MainJobTest(unittest.TestCase):
  """The README's first command, launch/main_job.sh, end to end on the embedded offline data."""

  def test_main_job_trains_evaluates_and_exports(self):
    with tempfile.TemporaryDirectory() as root:
      # The script calls the console scripts by name; these stand in for them wherever the
      # package is importable but not pip-installed (Bazel's sandbox).
      bin_dir = os.path.join(root, 'bin')
      os.makedirs(bin_dir)
      for name in ('train', 'evaluate', 'export'):
        path = os.path.join(bin_dir, f'taml-{name}')
        with open(path, 'w') as f:
          f.write(f'#!/bin/sh\nexec {sys.executable} -m taml_tf.launch.{name} "$@"\n')
        os.chmod(path, 0o755)
      savedir = os.path.join(root, 'runs', 'embedded_taml')
      # The flagfile's job, shrunk: later flags override the flagfile's.
      proc = subprocess.run(
          ['bash', os.path.join(REPO, 'launch', 'main_job.sh'), savedir, '--n_train_iters=4',
           '--save_freq=2', '--eval_freq=2', '--n_val_episodes=2', '--n_channels=4',
           '--n_steps=1', '--n_test_steps=1', '--n_mc_samples=2'],
          capture_output=True, text=True, timeout=600, cwd=REPO,
          env=dict(ENV, PATH=f'{bin_dir}:{os.environ["PATH"]}'))
      self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
      self.assertIn(f'results: {savedir}/results/results.md; SavedModel: {savedir}/saved_model',
                    proc.stdout)
      results, arrays = reports.read_results(os.path.join(savedir, 'results'))
      self.assertEqual(sorted(results['datasets']), ['embedded', 'embedded_ood'])
      for name, r in results['datasets'].items():
        self.assertEqual(r['episodes'], 50, name)
        self.assertTrue(0.0 <= r['accuracy'] <= 1.0, name)
      self.assertEqual(results['mode'], 'mc')
      self.assertIn('omega', arrays)
      served = tf.saved_model.load(os.path.join(savedir, 'saved_model'))
      self.assertIn('serving_default', served.signatures)
      self.assertIn('adapt_and_predict', served.signatures)


if __name__ == '__main__':
  unittest.main()
