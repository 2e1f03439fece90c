"""taml-benchmark: meta-training throughput, peak memory, meta-test time and GFLOP/s.

Each configuration runs in its own process (so peak memory is its own) and the table is written
as markdown. Run it on an otherwise idle machine.

  python -m taml_tf.launch.benchmark --out=docs/benchmark.md
"""

import json
import os
import platform
import subprocess
import sys

from absl import app
from absl import flags

from taml_tf.execution import onednn
from taml_tf.execution import threads
from taml_tf.flags import definitions
from taml_tf.flags import resolve
from taml_tf.method import precision
from taml_tf.products import benchmarking
from taml_tf.products import profiling

flags.DEFINE_string('out', 'docs/benchmark.md', 'Markdown file the results are written to.')
flags.DEFINE_string('json_out', None, 'Optional JSON file with every measurement.')
flags.DEFINE_list('plan', None, 'Measurements as shape:variant:order:execution:phase, '
                  'optionally followed by :mixed_bfloat16, :recompute and/or :authors_padding '
                  '(default: the standard table); order is second, first or authors (the '
                  'authors\' training gradient, --nobn_second_order).')
flags.DEFINE_integer('iterations', 6, 'Timed iterations per measurement (median reported).')
flags.DEFINE_string('single', None, 'Internal: run one measurement (JSON Spec) and print it.')
flags.DEFINE_string('data_dir', None, 'Data folder with omniglot_28x28.npz.')
flags.DEFINE_enum('episodes', 'paper', list(benchmarking.EPISODES), 'paper: the mixed any-shot '
                  'mode drawn from real data; peer: the task sizes and noise pixels of the '
                  'PyTorch peers\' harness (--peer_spec), to compare with it side by side.')
flags.DEFINE_string('peer_spec', None, 'episodes_spec.json of shared/peer_bench (default: '
                    '<data_dir>/../peer_bench/episodes_spec.json).')
flags.DEFINE_string('profile_dir', None, 'If set, each measurement also records a profiler '
                    'trace of --profile_calls more iterations in a subfolder of this one '
                    '(TensorBoard\'s Profile tab reads it) and the table adds its time per op '
                    'type and category.')
flags.DEFINE_integer('profile_calls', 3, 'Iterations traced per measurement with --profile_dir.')
definitions.define_thread_flags()
FLAGS = flags.FLAGS

STANDARD = [
    'A:bayesian_taml:second:function:train', 'B:bayesian_taml:second:function:train',
    'A:maml:second:function:train', 'B:maml:second:function:train',
    'A:bayesian_taml:first:function:train', 'B:bayesian_taml:first:function:train',
    'A:maml:first:function:train',
    'A:bayesian_taml:second:sequential:train', 'B:bayesian_taml:second:sequential:train',
    'A:bayesian_taml:second:eager:train', 'A:bayesian_taml:second:xla:train',
    'A:maml:second:xla:train',
    'A:bayesian_taml:second:function:test', 'B:bayesian_taml:second:function:test',
]


def _parse(item: str) -> dict:
  """The Spec fields of a plan item shape:variant:order:execution:phase[:option...]."""
  parts = item.split(':')
  if len(parts) < 5:
    raise app.UsageError(f'plan item {item!r}: expected shape:variant:order:execution:phase'
                         '[:mixed_bfloat16][:recompute][:authors_padding]')
  shape, variant, order, execution, phase = parts[:5]
  spec = dict(shape=shape, variant=variant, order=order, execution=execution, phase=phase,
              iterations=FLAGS.iterations if execution != 'eager' else 2)
  for option in parts[5:]:
    if option in precision.PRECISIONS:
      spec['precision'] = option
    elif option in ('recompute', 'authors_padding'):
      spec[option] = True
    else:
      raise app.UsageError(f'plan item {item!r}: unknown option {option!r} (a precision in '
                           f'{precision.PRECISIONS}, recompute or authors_padding)')
  return spec


def _run_one(item: str) -> dict:
  spec = _parse(item)
  phase = spec['phase']
  if FLAGS.episodes == 'peer' and phase != 'flops':
    spec.update(episodes='peer', peer_spec=_peer_spec())
  if FLAGS.profile_dir and phase != 'flops':
    spec.update(profile_dir=os.path.join(os.path.abspath(FLAGS.profile_dir),
                                         item.replace(':', '_')),
                profile_calls=FLAGS.profile_calls)
  cmd = [sys.executable, '-m', 'taml_tf.launch.benchmark', '--single=' + json.dumps(spec)]
  if FLAGS.data_dir:
    cmd.append('--data_dir=' + FLAGS.data_dir)
  for name in ('inter_op_threads', 'intra_op_threads'):
    if FLAGS[name].value is not None:
      cmd.append(f'--{name}={FLAGS[name].value}')
  out = subprocess.run(cmd, capture_output=True, text=True, check=False)
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if out.returncode or not lines:
    raise RuntimeError(f'{item} failed:\n{out.stderr[-3000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def _peer_spec() -> str:
  path = FLAGS.peer_spec or os.path.join(FLAGS.data_dir or '.', '..', 'peer_bench',
                                         'episodes_spec.json')
  if not os.path.exists(path):
    raise app.UsageError(f'--episodes=peer: {path} not found (set --peer_spec)')
  return os.path.abspath(path)


def _table(results, flops, rate) -> str:
  rows = ['| shape | variant | order | execution | phase | s / iteration (median) | tasks/s | '
          'ops / iteration (traced) | peak RSS (MB) | floor (MB) | above floor (MB) | '
          'after warm-up (MB) | peak of the steps (MB) | warm-up (s) |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for r in results:
    options = [o for o in (r['precision'], r['recompute'] and 'recompute',
                           r.get('authors_padding') and 'authors_padding')
               if o and o != 'float32']
    execution = ' + '.join([r['execution']] + options)
    rows.append(f"| {r['shape']} | {r['variant']} | {r['order']} | {execution} | "
                f"{r['phase']} | {r['seconds']:.3f} | {r['tasks_per_second']:.2f} | "
                f"{r.get('ops_per_iteration') or 'n/a'} | {r['peak_rss_mb']:.0f} | {r['floor_rss_mb']:.0f} | "
                f"{r['above_floor_mb']:.0f} | {r['warmup_rss_mb']:.0f} | "
                f"{r['steps_peak_rss_mb']:.0f} | "
                f"{r['warmup_seconds']:.1f} |")
  text = '\n'.join(rows)
  for r in results:
    if r.get('op_times'):
      t = r['op_times']
      traced = profiling.OpTimes(t['seconds'], t['counts'], t['calls'], t['wall_seconds'])
      text += (f"\n\n### Where the time goes: {r['shape']} {r['variant']} {r['execution']} "
               f"{r['phase']} ({r['precision']})\n\nTrace: `{r['profile_dir']}`. "
               + profiling.markdown(traced))
  text += (f'\n\nMatrix-multiply rate (float32, 2048^3, median of 10): {rate:.1f} GFLOP/s.\n\n'
           '| FLOP count (unpadded meta-batch, shots per class) | GFLOP / update | s / update | '
           'GFLOP/s | fraction of matmul rate |\n|---|---|---|---|---|\n')
  for f in flops:
    text += (f"| {f['shape']} {f['variant']} {f['order']}-order ({f['shots']} shots) | "
             f"{f['flops'] / 1e9:.2f} | "
             f"{f['seconds']:.3f} | {f['gflops_per_second']:.1f} | "
             f"{f['gflops_per_second'] / rate:.0%} |\n")
  return text


def main(argv):
  del argv
  if FLAGS.single:
    try:
      pools = resolve.configure_threads(FLAGS)
    except resolve.FlagError as e:
      raise app.UsageError(str(e))
    spec = benchmarking.Spec(**json.loads(FLAGS.single))
    if spec.phase == 'flops':
      result = benchmarking.count_train_flops(spec.shape, spec.variant, spec.order,
                                              FLAGS.data_dir)
    else:
      result = benchmarking.measure(spec, FLAGS.data_dir)
    result['threads'] = {'inter_op': pools.inter_op, 'intra_op': pools.intra_op,
                         'env': {k: os.environ.get(k) for k in (threads.ENV_INTER_OP,
                                                                threads.ENV_INTRA_OP)}}
    result['onednn'] = onednn.enabled()
    print('RESULT ' + json.dumps(result), flush=True)
    return
  cpu = benchmarking.cpu_info()
  plan = FLAGS.plan or STANDARD
  specs = [_parse(item) for item in plan]  # a malformed item fails before any measurement
  if FLAGS.profile_calls < 1:
    raise app.UsageError(f'--profile_calls must be >= 1, got {FLAGS.profile_calls}')
  warnings = {precision.hardware_warning(s.get('precision', 'float32'), cpu) for s in specs}
  warnings.discard(None)
  for warning in sorted(warnings):
    print(f'note: {warning}', flush=True)
  results = []
  for item in plan:
    results.append(_run_one(item))
    print(json.dumps(results[-1]), flush=True)
  flops = [_run_one(f'{s}:bayesian_taml:second:function:flops') for s in ('A', 'B')]
  rate = benchmarking.matmul_rate()
  machine = (f"{cpu['model']} ({platform.machine()}, {os.cpu_count()} cores; flags: "
             f"{', '.join(cpu['flags']) or 'none of ' + ', '.join(benchmarking.CPU_FLAGS)}; "
             f"bfloat16 hardware: {'yes' if cpu['bfloat16_hardware'] else 'no'}), "
             f'{platform.platform()}, Python {platform.python_version()}; episodes: '
             f'{FLAGS.episodes}')
  body = _table(results, flops, rate)
  header = ('# Benchmark\n\nCommand: `python -m taml_tf.launch.benchmark '
            + ' '.join(sys.argv[1:]) + f'`\n\nMachine: {machine}.\n\n')
  for warning in sorted(warnings):
    header += f'Note: {warning}.\n\n'
  pools = sorted({(r['threads']['inter_op'], r['threads']['intra_op']) for r in results
                  if 'threads' in r})
  header += (f'Thread pools of the measurements (inter-op, intra-op; 0: TensorFlow\'s default '
             f'or $TF_NUM_*_THREADS): {", ".join(map(str, pools))}; the matrix-multiply rate '
             f'uses TensorFlow\'s default pools.\n\n')
  kernels = {'oneDNN' if r['onednn'] else 'Eigen' for r in results if 'onednn' in r}
  # Eigen's kernels took 2.1x as long on an AVX2 CPU (taml_tf.execution.onednn).
  header += f'CPU kernels of the measurements: {", ".join(sorted(kernels)) or "-"}.\n\n'
  os.makedirs(os.path.dirname(FLAGS.out) or '.', exist_ok=True)
  with open(FLAGS.out + '.tmp', 'w') as f:
    f.write(header + body + '\n')
  os.replace(FLAGS.out + '.tmp', FLAGS.out)
  if FLAGS.json_out:
    with open(FLAGS.json_out, 'w') as f:
      json.dump(dict(results=results, flops=flops, matmul_gflops=rate, cpu=cpu,
                     episodes=FLAGS.episodes), f, indent=1)
  print(header + body)


def run():
  definitions.declare_main_module(__name__)
  app.run(main)


if __name__ == '__main__':
  run()
