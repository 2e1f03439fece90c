"""Issue 39, MAML A's memory above the floor (838 MB against the port's 561): where it arises.

Runs `benchmarking.measure` (peer episodes, 5 timed iterations) for each variant named on the
command line and prints the floor, the RSS right after the warm-up (the first call: tracing,
Grappler, the first run; measure's `warmup_rss_mb`), the whole-process peak and the steps' own
peak (MB).
Env: EXE, the execution ('function', default, or 'sequential'); TF_ENABLE_ONEDNN_OPTS and
ONEDNN_PRIMITIVE_CACHE_CAPACITY as TensorFlow reads them; --nograppler turns Grappler off.
Usage: python memory_phases.py [--nograppler] VARIANT...   (from the repository root)
"""
import os
import sys

import tensorflow as tf

from taml_tf.products import benchmarking as b

DATA = os.environ.get('TAML_DATA_DIR', '/work/shared/data')


def main(argv):
  if '--nograppler' in argv:
    tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True})
  for variant in [a for a in argv if a != '--nograppler']:
    spec = b.Spec(shape='A', variant=variant, order='second',
                  execution=os.environ.get('EXE', 'function'), phase='train', iterations=5,
                  episodes='peer',
                  peer_spec=os.path.join(DATA, '..', 'peer_bench', 'episodes_spec.json'))
    out = b.measure(spec, DATA)
    print(variant, 'floor', round(out['floor_rss_mb']), 'after warm-up',
          round(out['warmup_rss_mb']), 'peak', round(out['peak_rss_mb']), 'steps peak',
          round(out['steps_peak_rss_mb']), flush=True)


if __name__ == '__main__':
  main(sys.argv[1:])
