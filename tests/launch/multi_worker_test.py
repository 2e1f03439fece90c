"""Multi-worker training: two `taml-train --strategy=multi_worker` processes on 127.0.0.1.

Two workers (one replica each, TF_CONFIG as TensorFlow documents it) train one global
meta-batch of 2 tasks per step. They must reach what one process reaches on the same flags: the
same loss at every step (they split one episode stream) and the same parameters up to float
noise; only the chief writes checkpoints and summaries; and after one worker is killed, the
restarted cluster resumes from the chief's last checkpoint.
"""

import glob
import json
import os
import re
import shutil
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


def start_workers(savedir, data_dir, steps, tag):
  """Starts the two workers (logs: <savedir>_<tag>_worker<i>.log); returns their Popen objects,
  chief first."""
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
         f'--savedir={savedir}', f'--n_train_iters={steps}', '--strategy=multi_worker'],
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


class MultiWorkerTest(unittest.TestCase):

  def setUp(self):
    super().setUp()
    self.data_dir = real_data.require(*helpers.DATA_FILES)
    self.root = tempfile.mkdtemp(prefix='multi_worker_test_')
    self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

  def test_two_workers_match_one_process_and_resume_after_a_worker_dies(self):
    savedir = os.path.join(self.root, 'cluster')
    # 1. A long run; worker 1 is killed once the chief has saved a checkpoint.
    chief, other = start_workers(savedir, self.data_dir, steps=200, tag='killed')
    deadline = time.time() + 400
    while latest_step(savedir) < 2:
      self.assertIsNone(chief.poll(), read(chief.log_path)[-3000:])
      self.assertLess(time.time(), deadline, 'no checkpoint from the cluster in time')
      time.sleep(0.5)
    other.kill()
    other.wait()
    try:  # The chief cannot go on without its peer: it fails, or waits in a collective.
      chief.wait(timeout=20)
    except subprocess.TimeoutExpired:
      chief.kill()
      chief.wait()
    first_log = read(chief.log_path)
    resume_at = latest_step(savedir)
    self.assertGreaterEqual(resume_at, 2)

    # 2. The restarted cluster resumes from the chief's last checkpoint and runs two more.
    target = resume_at + 2
    procs = start_workers(savedir, self.data_dir, steps=target, tag='resumed')
    for p in procs:
      self.assertEqual(p.wait(timeout=600), 0, read(p.log_path)[-3000:])
    second_log = read(procs[0].log_path)
    self.assertIn('resumed from', second_log)
    self.assertIn(f'trained {target} steps', second_log)

    # 3. One process on the same flags.
    reference = helpers.binary(
        'train', *TINY, f'--data_dir={self.data_dir}', f'--n_train_iters={target}',
        f'--savedir={os.path.join(self.root, "one")}', timeout=600)
    expected = losses(reference.stderr)
    got = losses(first_log)
    got = {s: l for s, l in got.items() if s <= resume_at}
    got.update({s: l for s, l in losses(second_log).items() if s > resume_at})
    self.assertEqual(sorted(got), list(range(1, target + 1)))
    for s in got:  # the same tasks and samples at every step (the log prints 4 decimals)
      self.assertAlmostEqual(got[s], expected[s], places=3, msg=f'step {s}')

    # Parameters: Adam divides by sqrt(v), so on entries whose gradients are ~0 (conv biases
    # under batch norm) float noise of the two reduction orders moves them by up to a few
    # Adam steps (meta_lr 1e-3); a missing all-reduce or another episode stream moves nearly
    # every variable.
    a = helpers.variables(os.path.join(self.root, 'one', 'checkpoints',
                                             f'ckpt-{target}'))
    b = helpers.variables(os.path.join(savedir, 'checkpoints', f'ckpt-{target}'))
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
    chief_pids = {str(chief.pid), str(procs[0].pid)}
    events = glob.glob(os.path.join(savedir, 'logs', '*', 'events.out.tfevents.*'))
    self.assertTrue(events)
    for e in events:
      self.assertIn(e.rsplit('.', 3)[-3], chief_pids, e)
    self.assertTrue(os.path.exists(os.path.join(savedir, 'best', 'best.json')))


if __name__ == '__main__':
  unittest.main()
