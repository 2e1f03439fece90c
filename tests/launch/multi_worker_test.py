"""Multi-worker training: two `taml-train --strategy=multi_worker` processes on 127.0.0.1.

Two workers (one replica each, TF_CONFIG as TensorFlow documents it) train one global
meta-batch of 2 tasks per step. They must reach what one process reaches on the same flags: the
same loss at every step (they split one episode stream) and the same parameters up to float
noise; only the chief writes checkpoints and summaries. Faults a cluster meets (issue 41):
SIGTERM to the chief or to the other worker stops both after the same step, with one checkpoint
of that step and exit status 42 on both; SIGKILL of a worker stops the other within a bounded
time with an error naming the lost worker and nothing half-written; after each, the same
commands resume the cluster to the parameters of an uninterrupted one-process run.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

from tests import real_data
from tests import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = [f for f in helpers.TINY if not f.startswith(('--n_train_iters', '--eval_freq'))]
TINY += ['--eval_freq=2']  # validation (and best checkpoints) under the strategy too


def free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def start_workers(savedir, data_dir, steps, tag, *extra):
  """Starts the two workers (logs: <savedir>_<tag>_worker<i>.log) with `extra` flags; returns
  their Popen objects, chief first."""
  ports = free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  procs = []
  for i in range(2):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='',
               TF_CONFIG=json.dumps({'cluster': cluster, 'task': {'type': 'worker',
                                                                    'index': i}}))
    log = open(f'{savedir}_{tag}_worker{i}.log', 'w')
    procs.append(subprocess.Popen(
        [sys.executable, '-m', 'taml_tf.launch.train', *TINY, f'--data_dir={data_dir}',
         f'--savedir={savedir}', f'--n_train_iters={steps}', '--strategy=multi_worker',
         *extra],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
    procs[-1].log_path = log.name
  return procs


def losses(log_text):
  """{step: loss} from a training log's progress lines."""
  return {int(m.group(1)): float(m.group(2))
          for m in re.finditer(r'step (\d+)/\d+ +loss ([\d.]+)', log_text)}


def read(path):
  with open(path) as f:
    return f.read()


def latest_step(savedir):
  found = [int(p.rsplit('-', 1)[1].split('.')[0])
           for p in glob.glob(os.path.join(savedir, 'checkpoints', 'ckpt-*.index'))]
  return max(found, default=0)


def wait_for_checkpoint(test, savedir, procs, step=2, timeout=400):
  """Waits until the chief has written the checkpoint of `step` (no worker may exit first)."""
  deadline = time.time() + timeout
  while latest_step(savedir) < step:
    for p in procs:
      test.assertIsNone(p.poll(), read(p.log_path)[-3000:])
    test.assertLess(time.time(), deadline, 'no checkpoint from the cluster in time')
    time.sleep(0.2)


def half_written(savedir):
  """What a kill may have left unfinished in a run folder: temporary files, checkpoint state
  naming a missing checkpoint, checkpoints or JSON files that do not read back whole."""
  problems = [p for p in glob.glob(os.path.join(savedir, '**', '*'), recursive=True)
              if re.search(r'tmp|temp', os.path.basename(p))]
  state = os.path.join(savedir, 'checkpoints', 'checkpoint')
  for name in re.findall(r'"([^"]+)"', read(state)):
    path = name if os.path.isabs(name) else os.path.join(savedir, 'checkpoints', name)
    if not os.path.exists(path + '.index'):
      problems.append(f'{state} names missing {path}')
  for index in glob.glob(os.path.join(savedir, '*', '*.index')):
    try:
      helpers.variables(index[:-len('.index')])
    except Exception as e:  # pylint: disable=broad-except
      problems.append(f'{index}: {e}')
  for path in glob.glob(os.path.join(savedir, '**', '*.json'), recursive=True):
    try:
      json.loads(read(path))
    except ValueError as e:
      problems.append(f'{path}: {e}')
  return problems


class MultiWorkerTest(unittest.TestCase):
  """Each test interrupts a cluster and resumes it to TARGET steps, which one process also
  trains (once for the class)."""

  TARGET = 16

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = real_data.require(*helpers.DATA_FILES)
    cls.root = tempfile.mkdtemp(prefix='multi_worker_test_')
    reference = helpers.binary(
        'train', *TINY, f'--data_dir={cls.data_dir}', f'--n_train_iters={cls.TARGET}',
        f'--savedir={os.path.join(cls.root, "one")}', timeout=600)
    cls.expected_losses = losses(reference.stderr)
    cls.expected = helpers.variables(
        os.path.join(cls.root, 'one', 'checkpoints', f'ckpt-{cls.TARGET}'))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(getattr(cls, 'root', ''), ignore_errors=True)
    super().tearDownClass()

  def resume_and_check(self, savedir, resume_at, first_logs):
    """Restarts both workers on the same flags (but --n_train_iters=TARGET); checks that they
    resume from ckpt-`resume_at` and reach the one-process run's losses and parameters, and
    that only the chief wrote the run's files."""
    self.assertLess(resume_at, self.TARGET)
    procs = start_workers(savedir, self.data_dir, self.TARGET, 'resumed')
    for p in procs:
      self.assertEqual(p.wait(timeout=600), 0, read(p.log_path)[-3000:])
    second_log = read(procs[0].log_path)
    self.assertIn(f'resumed from {os.path.join(savedir, "checkpoints", f"ckpt-{resume_at}")}',
                  second_log)
    self.assertIn(f'trained {self.TARGET} steps', second_log)

    got = {s: l for s, l in losses(first_logs[0]).items() if s <= resume_at}
    got.update({s: l for s, l in losses(second_log).items() if s > resume_at})
    self.assertEqual(sorted(got), list(range(1, self.TARGET + 1)))
    for s in got:  # the same tasks and samples at every step (the log prints 4 decimals)
      self.assertAlmostEqual(got[s], self.expected_losses[s], places=3, msg=f'step {s}')

    # Parameters: Adam divides by sqrt(v), so on entries whose gradients are ~0 float noise of
    # the two reduction orders moves them by up to a few Adam steps (meta_lr 1e-3); a missing
    # all-reduce, another episode stream or a resume from the wrong step moves nearly every
    # variable.
    a = self.expected
    b = helpers.variables(os.path.join(savedir, 'checkpoints', f'ckpt-{self.TARGET}'))
    self.assertEqual(sorted(a), sorted(b))
    diffs = {k: float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64))))
             for k in a if np.asarray(a[k]).dtype != object
             and not k.startswith('save_counter')}  # the cluster saved more often
    worst = sorted(diffs.items(), key=lambda kv: -kv[1])[:5]
    self.assertLess(worst[0][1], 5e-3, worst)
    tight = [k for k, d in diffs.items() if d < 1e-5]
    self.assertGreater(len(tight), 0.75 * len(diffs), worst)

    # Only the chief wrote the run's files: no worker folder is left, and every summary file
    # comes from a chief process.
    self.assertFalse(os.path.exists(os.path.join(savedir, '.workers')))
    events = glob.glob(os.path.join(savedir, 'logs', '*', 'events.out.tfevents.*'))
    self.assertTrue(events)
    chief_pids = {str(p) for p in self.chief_pids} | {str(procs[0].pid)}
    for e in events:
      self.assertIn(e.rsplit('.', 3)[-3], chief_pids, e)
    self.assertTrue(os.path.exists(os.path.join(savedir, 'best', 'best.json')))
    self.assertEqual(half_written(savedir), [])

  def sigterm(self, which):
    """SIGTERM to worker `which` once the cluster has checkpointed; both must stop after the
    same step with one checkpoint of it and status 42, then resume exactly."""
    savedir = os.path.join(self.root, f'sigterm_{which}')
    procs = start_workers(savedir, self.data_dir, 200, 'stopped')
    self.chief_pids = [procs[0].pid]
    wait_for_checkpoint(self, savedir, procs)
    procs[which].send_signal(signal.SIGTERM)
    codes = [p.wait(timeout=300) for p in procs]
    logs = [read(p.log_path) for p in procs]
    self.assertEqual(codes, [42, 42], [log[-3000:] for log in logs])
    stopped = [re.findall(r'^taml-train: (.*): stopped at step (\d+)/200; checkpoint (\S+) '
                          r'written; run the same command to resume$', log, re.M) for log in logs]
    self.assertEqual([len(s) for s in stopped], [1, 1], [log[-3000:] for log in logs])
    (reason_0, step_0, path_0), (reason_1, step_1, path_1) = stopped[0][0], stopped[1][0]
    self.assertEqual(step_0, step_1)
    step = int(step_0)
    path = os.path.join(savedir, 'checkpoints', f'ckpt-{step}')
    self.assertEqual([path_0, path_1], [path, path])
    reasons = [reason_0, reason_1]
    self.assertEqual(reasons[which], 'received SIGTERM')
    name = f'/job:worker/replica:0/task:{which}'
    self.assertEqual(reasons[1 - which], f'worker {which} ({name}) received a stop request')
    # The chief wrote one checkpoint at the step every worker names, and it is the latest.
    self.assertEqual(latest_step(savedir), step)
    self.assertEqual(sorted(helpers.variables(path)), sorted(self.expected))
    self.resume_and_check(savedir, step, logs)

  def test_sigterm_to_the_chief_stops_both_workers_at_one_step_and_resumes(self):
    self.sigterm(0)

  def test_sigterm_to_the_other_worker_stops_both_workers_at_one_step_and_resumes(self):
    self.sigterm(1)

  def test_a_killed_worker_stops_the_other_with_its_name_and_the_cluster_resumes(self):
    savedir = os.path.join(self.root, 'killed')
    chief, other = start_workers(savedir, self.data_dir, 200, 'killed')
    self.chief_pids = [chief.pid]
    wait_for_checkpoint(self, savedir, (chief, other))
    other.kill()
    other.wait()
    killed = time.time()
    # Bounded: the chief's next collective fails at once on the closed connections (a peer
    # that vanishes without closing them meets --collective_timeout instead).
    code = chief.wait(timeout=120)
    log = read(chief.log_path)
    self.assertNotIn(code, (0, 42), log[-3000:])
    self.assertRegex(log, r'taml-train: lost worker /job:worker/replica:0/task:1 after step \d+ ')
    self.assertIn('restart every worker with the same command', log)
    print(f'the chief stopped {time.time() - killed:.1f} s after the kill')
    self.assertEqual(half_written(savedir), [])
    resume_at = latest_step(savedir)
    self.assertGreaterEqual(resume_at, 2)
    self.resume_and_check(savedir, resume_at, [log])


if __name__ == '__main__':
  unittest.main()
