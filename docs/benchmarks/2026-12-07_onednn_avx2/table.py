"""The sitting's table (docs/performance.md, "Current result on an AVX2-only CPU"): per line, the
peers' and both kernel sets' medians per round, the ratios, ops per iteration, and memory:
whole-process peak and peak above the process's floor (the peers' floor: their RSS after
import).

Usage: python table.py [FOLDER] [ROUNDS]   (default this script's folder, 2)
       python table.py FOLDER r<N>        (round N, oneDNN only: the peers against oneDNN)
"""
import json
import os
import sys

LINES = (  # (label, peer algo, shape, phase, our variant)
    ('Bayesian TAML train A', 'btaml', 'A', 'train', 'bayesian_taml'),
    ('Bayesian TAML train B', 'btaml', 'B', 'train', 'bayesian_taml'),
    ('meta-test A', 'btaml', 'A', 'test', 'bayesian_taml'),
    ('meta-test B', 'btaml', 'B', 'test', 'bayesian_taml'),
    ('MAML train A (learn2learn)', 'l2l_maml', 'A', 'train', 'maml'),
    ('MAML train B (learn2learn)', 'l2l_maml', 'B', 'train', 'maml'),
)


def read_peers(folder):
  """(label, algo, shape, phase) -> the peers' row, from peers.jsonl."""
  peers = {}
  with open(os.path.join(folder, 'peers.jsonl')) as f:
    for line in f:
      p = json.loads(line)
      peers[p['label'], p['algo'], p['shape'], p['phase']] = p
  return peers


def one_round(folder, r):
  """The peers against oneDNN in round `r` (a round run with KERNELS=onednn)."""
  peers = read_peers(folder)
  with open(os.path.join(folder, f'sitting_onednn_r{r}.json')) as f:
    ours = {(m['variant'], m['shape'], m['phase']): m for m in json.load(f)['results']}
  print(f'| what (peer episodes) | peers r{r} (s) | oneDNN r{r} (s) | ratio | peers peak, above '
        'floor (MB) | oneDNN peak, above floor (MB) |')
  print('|---' * 6 + '|')
  for label, algo, shape, phase, variant in LINES:
    p, o = peers[f'r{r}', algo, shape, phase], ours[variant, shape, phase]
    print(f"| {label} | {p['median_s']:.3f} | {o['seconds']:.3f} | "
          f"**{p['median_s'] / o['seconds']:.2f}x** | {p['peak_rss_mib']:.0f}, "
          f"{p['peak_rss_mib'] - p['rss_after_import_mib']:.0f} | {o['peak_rss_mb']:.0f}, "
          f"{o['above_floor_mb']:.0f} |")


def main(folder, rounds):
  rs = range(1, rounds + 1)
  peers = read_peers(folder)
  ours = {}
  for kernels in ('eigen', 'onednn'):
    for r in rs:
      with open(os.path.join(folder, f'sitting_{kernels}_r{r}.json')) as f:
        for m in json.load(f)['results']:
          ours[kernels, r, m['variant'], m['shape'], m['phase']] = m
  slash = ' / '.join
  print('| what (peer episodes) | peers ' + slash(f'r{r}' for r in rs) + ' (s) | Eigen '
        + slash(f'r{r}' for r in rs) + ' (s) | oneDNN ' + slash(f'r{r}' for r in rs)
        + ' (s) | ratio Eigen | ratio oneDNN | oneDNN / Eigen | ops / iteration | peers peak, above '
        'floor (MB) | oneDNN peak, above floor (MB) |')
  print('|---' * 10 + '|')
  for label, algo, shape, phase, variant in LINES:
    p = [peers[f'r{r}', algo, shape, phase] for r in rs]
    e = [ours['eigen', r, variant, shape, phase] for r in rs]
    o = [ours['onednn', r, variant, shape, phase] for r in rs]
    print(f'| {label} | ' + slash(f"{x['median_s']:.3f}" for x in p) + ' | '
          + slash(f"{x['seconds']:.3f}" for x in e) + ' | '
          + slash(f"{x['seconds']:.3f}" for x in o) + ' | '
          + slash(f"{a['median_s'] / b['seconds']:.2f}x" for a, b in zip(p, e)) + ' | **'
          + slash(f"{a['median_s'] / b['seconds']:.2f}x" for a, b in zip(p, o)) + '** | '
          + slash(f"{b['seconds'] / a['seconds']:.2f}x" for a, b in zip(o, e)) + ' | '
          + f"{o[0]['ops_per_iteration']:,} | "
          + slash(f"{x['peak_rss_mib']:.0f}, {x['peak_rss_mib'] - x['rss_after_import_mib']:.0f}"
                  for x in p) + ' | '
          + slash(f"{x['peak_rss_mb']:.0f}, {x['above_floor_mb']:.0f}" for x in o) + ' |')


if __name__ == '__main__':
  where = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
  which = sys.argv[2] if len(sys.argv) > 2 else '2'
  if which.startswith('r'):
    one_round(where, int(which[1:]))
  else:
    main(where, int(which))
