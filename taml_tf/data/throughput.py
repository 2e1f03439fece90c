"""Measures episode throughput (episodes / second) of the sampler and the tf.data pipeline.

Run: `python -m taml_tf.data.throughput [--runs 5] [--batches 100]`. Prints a Markdown table
(median over runs) for two shapes:

* Omniglot-sized: 28x28x1, 5-way, shots 1..15, 5 queries per class, meta-batch 4 (real Omniglot
  background);
* CIFAR-FS-sized: 32x32x3, 5-way, shots 1..50, 15 queries per class, meta-batch 4. CIFAR-100 is
  not on this machine, so the images are real MNIST digits (about 1000 per class, enough for
  50 shots + 15 queries; Omniglot's 20 drawings per class would cap the shots) resized to
  32x32 and tiled to 3 channels: the same task and array sizes, so the same cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from taml_tf.data import pipeline
from taml_tf.data import registry
from taml_tf.data import sampler as sampler_lib

SETTINGS = (
    ('Omniglot-sized 28x28x1, 5-way, 1..15 shot, 5 query', 'omniglot:background', (28, 28, 1),
     sampler_lib.SamplerConfig(way=5, max_shot=15, query=5, mode='mixed')),
    ('CIFAR-FS-sized 32x32x3, 5-way, 1..50 shot, 15 query', 'mnist', (32, 32, 3),
     sampler_lib.SamplerConfig(way=5, max_shot=50, query=15, mode='mixed')),
)


def _rate(fn, episodes: int, runs: int) -> float:
  rates = []
  for _ in range(runs):
    t = time.perf_counter()
    fn()
    rates.append(episodes / (time.perf_counter() - t))
  return statistics.median(rates)


def measure(batches: int = 100, runs: int = 5, batch_size: int = 4, data_dir=None) -> list:
  """Returns rows (setting, padding, numpy eps/s, tf.data eps/s)."""
  rows = []
  for title, name, shape, cfg in SETTINGS:
    src = registry.build_source(name, None, shape, data_dir)
    for pad in ('max', 'bucket'):
      c = sampler_lib.SamplerConfig(**{**cfg.__dict__, 'pad_to': pad})
      s = sampler_lib.EpisodeSampler(src, c, seed=0)
      np_rate = _rate(lambda: [s.sample_batch(i * batch_size, batch_size)  # pylint: disable=cell-var-from-loop
                               for i in range(batches)], batches * batch_size, runs)
      ds = pipeline.episode_dataset(src, c, seed=0, batch_size=batch_size)
      it = iter(ds)
      for _ in range(5):  # Warm up the pipeline (thread pool, prefetch).
        next(it)
      tf_rate = _rate(lambda: [next(it) for _ in range(batches)],  # pylint: disable=cell-var-from-loop
                      batches * batch_size, runs)
      rows.append((title, pad, np_rate, tf_rate))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--batches', type=int, default=100, help='meta-batches per run')
  parser.add_argument('--runs', type=int, default=5, help='runs; the median is reported')
  parser.add_argument('--batch_size', type=int, default=4)
  parser.add_argument('--data_dir', default=None)
  args = parser.parse_args()
  rows = measure(args.batches, args.runs, args.batch_size, args.data_dir)
  print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; '
        f'meta-batch {args.batch_size}, {args.batches} batches x {args.runs} runs (median)')
  print('| setting | padding | sampler only (eps/s) | tf.data pipeline (eps/s) | '
        'ms per meta-batch (tf.data) |')
  print('|---|---|---|---|---|')
  for title, pad, np_rate, tf_rate in rows:
    print(f'| {title} | {pad} | {np_rate:,.0f} | {tf_rate:,.0f} | '
          f'{1000 * args.batch_size / tf_rate:.1f} |')


if __name__ == '__main__':
  main()
