"""Kills a short taml-train run with SIGKILL at random moments and resumes it each time.

Checks, after every kill, that every checkpoint on disk (``checkpoints/`` and ``best/``) can be
read back whole, that the checkpoint state files point at existing checkpoints and that the
JSON files parse; at the end, that the run resumed after all the kills reaches the parameters
(every checkpointed variable, optimizer slots and step included) and the best-checkpoint
choice of an uninterrupted run with the same seed.

The run is tiny (embedded digits, 4-channel conv4, 3-way tasks) with a checkpoint at every
step and a validation every 3 steps, so that a good share of the kills lands in a checkpoint
write or a validation; each kill is classified by what the run was doing (its log and the
checkpoint on disk tell). Not part of the test suite: 10-20 minutes on 2 busy CPU cores.

  python launch/reliability/kill_resume.py --workdir=/tmp/kill_resume --kills=20

A fifth of the kills fall at a uniform moment of an attempt's start-up, the others at a uniform
moment within `--window` reference step-times (at least `--min_window` seconds) after its first
step.

Exits with status 0 when every check passed, 1 otherwise; writes ``summary.json`` to the
work folder.
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from taml_tf.execution import run_dir

EVAL_FREQ = 3
FLAGS = ['--id_dataset=embedded', '--ood_dataset=embedded_ood', '--n_channels=4',
         '--n_steps=1', '--n_test_steps=1', '--way=3', '--max_shot=2', '--query=1',
         '--metabatch=2', '--save_freq=1', f'--eval_freq={EVAL_FREQ}', '--n_val_episodes=2',
         '--log_freq=1', '--n_mc_samples=2', '--seed=5', '--max_to_keep=3',
         # Without op determinism two CPU runs differ by ~1e-3 on some Adam slots.
         '--op_determinism']
# The tolerance of tests/launch/binaries_test.py's killed-run test (two processes differ in
# the last bits on Adam slots of ~zero gradients even with op determinism).
RTOL, ATOL = 1e-4, 1e-8
STEP_LINE = re.compile(r'step (\d+)/\d+ ')
VALIDATION_LINE = re.compile(r'validation at step (\d+):')


def start(savedir, steps, log):
  """Starts taml-train as a subprocess writing its log to `log`; returns the Popen."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
  with open(log, 'w') as f:
    return subprocess.Popen(
        [sys.executable, '-m', 'taml_tf.launch.train', *FLAGS, f'--n_train_iters={steps}',
         f'--savedir={savedir}'], stdout=f, stderr=subprocess.STDOUT, env=env)


def read(path):
  with open(path, errors='replace') as f:
    return f.read()


def wait_for_first_step(proc, log, timeout=600):
  """Seconds until the run logs its first step (None if it ended before)."""
  t0 = time.time()
  while time.time() - t0 < timeout:
    if STEP_LINE.search(read(log)):
      return time.time() - t0
    if proc.poll() is not None:
      return None
    time.sleep(0.05)
  raise TimeoutError(f'no step logged within {timeout} s: see {log}')


def checkpoint_step(prefix):
  return int(prefix.rsplit('-', 1)[1]) if prefix else None


def check_files(savedir):
  """Every problem with the run's files: unreadable checkpoints, dangling state, bad JSON.

  Returns:
    (problems: list of str, readable checkpoints: int, leftover temporary paths: list).
  """
  problems, readable = [], 0
  for folder in (run_dir.CHECKPOINTS, run_dir.BEST):
    d = os.path.join(savedir, folder)
    if not os.path.isdir(d):
      continue
    state = tf.train.get_checkpoint_state(d) if os.path.exists(
        os.path.join(d, 'checkpoint')) else None
    listed = list(state.all_model_checkpoint_paths) if state else []
    if state and state.model_checkpoint_path not in listed:
      listed.append(state.model_checkpoint_path)
    for prefix in listed:
      prefix = prefix if os.path.isabs(prefix) else os.path.join(d, prefix)
      if not os.path.exists(prefix + '.index'):
        problems.append(f'{folder}/checkpoint lists {os.path.basename(prefix)}, which is gone')
    for index in sorted(glob.glob(os.path.join(d, '*.index'))):
      prefix = index[:-len('.index')]
      try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
          reader.get_tensor(key)
        readable += 1
      except Exception as e:  # pylint: disable=broad-except
        problems.append(f'{folder}/{os.path.basename(prefix)} unreadable: '
                        f'{type(e).__name__}: {str(e)[:200]}')
  for name in (run_dir.CONFIG_FILE, os.path.join(run_dir.BEST, run_dir.BEST_FILE)):
    path = os.path.join(savedir, name)
    if os.path.exists(path):
      try:
        json.loads(read(path))
      except ValueError as e:
        problems.append(f'{name} does not parse: {e}')
  temporary = [p for p in glob.glob(os.path.join(savedir, '**', '*'), recursive=True)
               if '_temp' in os.path.basename(p) or '.tmp' in os.path.basename(p)]
  return problems, readable, temporary


def phase(log_text, latest_step):
  """What the run was doing when it was killed, from its log and the latest checkpoint."""
  steps = [int(m) for m in STEP_LINE.findall(log_text)]
  if not steps:
    return 'start-up (imports, data, restore, tracing)'
  last = steps[-1]
  validated = {int(m) for m in VALIDATION_LINE.findall(log_text)}
  if latest_step is not None and last <= latest_step:
    return 'training step'
  # The step is logged, then validated (every EVAL_FREQ steps), then checkpointed.
  if last % EVAL_FREQ == 0 and last not in validated:
    return 'validation'
  return 'checkpoint write'


def variables(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if not k.startswith('_CHECKPOINTABLE_OBJECT_GRAPH')}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', required=True, help='Scratch folder (emptied first).')
  parser.add_argument('--kills', type=int, default=20)
  parser.add_argument('--steps', type=int, default=60, help='Meta-updates of the run.')
  parser.add_argument('--seed', type=int, default=0, help='Seed of the kill moments.')
  parser.add_argument('--startup_fraction', type=float, default=0.2,
                      help='Share of the kills drawn during start-up rather than training.')
  parser.add_argument('--window', type=float, default=8.0,
                      help='Kills during training fall within this many reference step-times '
                           '(validations included) after the first step of an attempt, and '
                           'at least --min_window s: a shorter window can kill every attempt in the '
                           'validation that follows its first step, and the run never '
                           'progresses.')
  parser.add_argument('--min_window', type=float, default=30.0,
                      help='The least window in seconds (see --window).')
  args = parser.parse_args()
  rng = random.Random(args.seed)
  t_begin = time.time()

  # 1. The uninterrupted reference run; it also measures start-up and step times. A finished
  # reference of the same length in the work folder is reused (it takes minutes).
  reference = os.path.join(args.workdir, 'reference')
  timing = os.path.join(args.workdir, 'reference.json')
  if os.path.exists(timing) and json.loads(read(timing)).get('steps') == args.steps:
    times = json.loads(read(timing))
    startup, per_step = times['startup'], times['per_step']
    print(f'reference reused: start-up {startup:.1f} s, {per_step:.2f} s per step', flush=True)
  else:
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    log = os.path.join(args.workdir, 'reference.log')
    t0 = time.time()
    proc = start(reference, args.steps, log)
    startup = wait_for_first_step(proc, log)
    t1 = time.time()
    if proc.wait() != 0:
      sys.exit(f'the reference run failed: see {log}')
    per_step = (time.time() - t1) / max(args.steps - 1, 1)
    with open(timing, 'w') as f:
      json.dump({'steps': args.steps, 'startup': startup, 'per_step': per_step}, f)
    print(f'reference: start-up {startup:.1f} s, {per_step:.2f} s per step '
          f'(checkpoint every step, validation every {EVAL_FREQ}), {time.time() - t0:.0f} s',
          flush=True)
  window = max(args.window * per_step, args.min_window)

  # 2. The same run, killed `kills` times.
  savedir = os.path.join(args.workdir, 'killed')
  shutil.rmtree(savedir, ignore_errors=True)
  for old in glob.glob(os.path.join(args.workdir, 'attempt_*.log')):
    os.remove(old)
  kills, all_problems = [], []
  for i in range(args.kills):
    log = os.path.join(args.workdir, f'attempt_{i:02d}.log')
    proc = start(savedir, args.steps, log)
    try:
      if rng.random() < args.startup_fraction:
        time.sleep(rng.uniform(0, startup))
      else:
        if wait_for_first_step(proc, log) is None:
          if proc.wait() == 0:  # the previous attempt had finished the run
            print(f'attempt {i}: the run was already finished; stopping the kills here',
                  flush=True)
            break
          sys.exit(f'attempt {i} ended before its first step: see {log}')
        time.sleep(rng.uniform(0, window))
      finished = proc.poll() is not None
      proc.send_signal(signal.SIGKILL)
    finally:
      proc.kill()
      proc.wait()
    if finished:
      print(f'attempt {i}: ended (status {proc.returncode}) before the kill; stopping the '
            f'kills here', flush=True)
      break
    latest = run_dir.latest_checkpoint(savedir)
    problems, readable, temporary = check_files(savedir)
    what = phase(read(log), checkpoint_step(latest))
    kills.append({'attempt': i, 'phase': what, 'latest_step': checkpoint_step(latest),
                  'checkpoints_read': readable, 'temporary_files_left': len(temporary),
                  'problems': problems})
    all_problems += problems
    print(f'kill {i + 1:2d}: during {what:<42s} latest checkpoint '
          f'{checkpoint_step(latest)}, {readable} checkpoints read back'
          f'{", temporary files left: %d" % len(temporary) if temporary else ""}'
          f'{"; PROBLEMS: " + "; ".join(problems) if problems else ""}', flush=True)

  # 3. Resume to the end and compare with the reference.
  log = os.path.join(args.workdir, 'final.log')
  proc = start(savedir, args.steps, log)
  if proc.wait() != 0:
    sys.exit(f'the final resumption failed: see {log}')
  ckpt = lambda run: os.path.join(run, 'checkpoints', f'ckpt-{args.steps}')
  got, want = variables(ckpt(savedir)), variables(ckpt(reference))
  # save_counter counts checkpoint writes (a step validated twice around a kill may write its
  # best checkpoint twice), not training state.
  for run in (got, want):
    run.pop('save_counter/.ATTRIBUTES/VARIABLE_VALUE', None)
  mismatched, worst = [], 0.0
  if sorted(got) != sorted(want):
    mismatched.append('different variables')
  for k in want:
    if k in got:
      diff = np.abs(got[k].astype(np.float64) - want[k])
      worst = max(worst, float(np.max(diff / (ATOL + RTOL * np.abs(want[k])), initial=0)))
      if not np.allclose(got[k], want[k], rtol=RTOL, atol=ATOL):
        mismatched.append(k)
  best_got = json.loads(read(os.path.join(savedir, 'best', 'best.json')))
  best_want = json.loads(read(os.path.join(reference, 'best', 'best.json')))
  same_best = (best_got['step'] == best_want['step']
               and abs(best_got['score'] - best_want['score']) < 1e-6)
  problems, readable, _ = check_files(savedir)
  all_problems += problems
  phases = {}
  for k in kills:
    phases[k['phase']] = phases.get(k['phase'], 0) + 1
  summary = {
      'kills': len(kills), 'phases': phases, 'steps': args.steps, 'seed': args.seed,
      'reference_startup_s': startup, 'reference_step_s': per_step, 'window_s': window,
      'unreadable_or_dangling': len(all_problems), 'problems': all_problems,
      'final_variables': len(want), 'mismatched_variables': mismatched,
      'worst_difference_in_tolerances': worst, 'tolerance': {'rtol': RTOL, 'atol': ATOL},
      'best_checkpoint': {'killed': best_got, 'reference': best_want, 'same': same_best},
      'minutes': round((time.time() - t_begin) / 60, 1), 'per_kill': kills}
  with open(os.path.join(args.workdir, 'summary.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  ok = not all_problems and not mismatched and same_best and len(kills) == args.kills
  print(f'{len(kills)} kills ({", ".join(f"{v} in {k}" for k, v in phases.items())}); '
        f'{len(all_problems)} unreadable or dangling checkpoints; final parameters: '
        f'{len(want) - len(mismatched)}/{len(want)} variables equal to the uninterrupted '
        f'run (rtol={RTOL}, atol={ATOL}; worst difference {worst:.3g} of the tolerance); '
        f'best checkpoint: step {best_got["step"]} vs {best_want["step"]} '
        f'({"same" if same_best else "DIFFERENT"}); {summary["minutes"]} minutes: '
        f'{"PASS" if ok else "FAIL"}', flush=True)
  sys.exit(0 if ok else 1)


if __name__ == '__main__':
  main()
