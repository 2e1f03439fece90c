"""Issue 39: the memory that tracing a train step takes, before anything runs.

Traces `benchmarking.traced_train_step` (shape A, 4 tasks, 5 inner steps) for each variant named
on the command line and prints the growth of the resident set (MB) and the traced ops (counted
once per call site). Run from the repository root of the code to read (PYTHONPATH=.).
Usage: python trace_memory.py VARIANT...
"""
import gc
import sys

import taml_tf
from taml_tf.products import benchmarking as b

taml_tf.configure_threads()
for variant in sys.argv[1:]:
  before = b.current_rss_mb()
  concrete = b.traced_train_step('A', variant)
  gc.collect()
  print(variant, 'tracing took %d MB;' % round(b.current_rss_mb() - before),
        'ops', b.graph_op_counts(concrete.graph.as_graph_def())['total'], flush=True)
