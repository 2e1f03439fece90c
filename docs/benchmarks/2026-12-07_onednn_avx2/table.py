"""The sitting's table (docs/performance.md, "Current result on an AVX2-only CPU"): per line, the
peers' and both kernel sets' medians per round, the ratios, ops per iteration, and memory:
whole-process peak and peak above the process's floor (the peers' floor: their RSS after
import).

Usage: python table.py [FOLDER] [ROUNDS]   (default this script's folder, 2)
       python table.py FOLDER r<N>        (round N, oneDNN only: the peers against oneDNN)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sitting_tables as t  # pylint: disable=g-import-not-at-top,wrong-import-position


def one_round(folder, r):
  """The peers against oneDNN in round `r` (a round run with KERNELS=onednn)."""
  peers = t.read_peers(folder)
  ours = t.read_ours(os.path.join(folder, f'sitting_onednn_r{r}.json'))
  print(f'| what (peer episodes) | peers r{r} (s) | oneDNN r{r} (s) | ratio | peers peak, above '
        'floor (MB) | oneDNN peak, above floor (MB) |')
  print('|---' * 6 + '|')
  for label, algo, shape, phase, variant in t.LINES:
    p, o = [peers[f'r{r}', algo, shape, phase]], [ours[variant, shape, phase]]
    print(f'| {label} | {t.peer_seconds(p)} | {t.our_seconds(o)} | **{t.ratios(p, o)}** | '
          f'{t.peer_memory(p)} | {t.our_memory(o)} |')


def main(folder, rounds):
  rs = range(1, rounds + 1)
  peers = t.read_peers(folder)
  ours = {(kernels, r): t.read_ours(os.path.join(folder, f'sitting_{kernels}_r{r}.json'))
          for kernels in ('eigen', 'onednn') for r in rs}
  slash = t.slash
  print('| what (peer episodes) | peers ' + slash(f'r{r}' for r in rs) + ' (s) | Eigen '
        + slash(f'r{r}' for r in rs) + ' (s) | oneDNN ' + slash(f'r{r}' for r in rs)
        + ' (s) | ratio Eigen | ratio oneDNN | oneDNN / Eigen | ops / iteration | peers peak, above '
        'floor (MB) | oneDNN peak, above floor (MB) |')
  print('|---' * 10 + '|')
  for label, algo, shape, phase, variant in t.LINES:
    p = [peers[f'r{r}', algo, shape, phase] for r in rs]
    e = [ours['eigen', r][variant, shape, phase] for r in rs]
    o = [ours['onednn', r][variant, shape, phase] for r in rs]
    print(f'| {label} | {t.peer_seconds(p)} | {t.our_seconds(e)} | {t.our_seconds(o)} | '
          f'{t.ratios(p, e)} | **{t.ratios(p, o)}** | '
          + slash(f"{b['seconds'] / a['seconds']:.2f}x" for a, b in zip(o, e)) + ' | '
          + f"{o[0]['ops_per_iteration']:,} | {t.peer_memory(p)} | {t.our_memory(o)} |")


if __name__ == '__main__':
  where = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
  which = sys.argv[2] if len(sys.argv) > 2 else '2'
  if which.startswith('r'):
    one_round(where, int(which[1:]))
  else:
    main(where, int(which))
