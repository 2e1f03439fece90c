"""The sitting's tables (docs/performance.md, "Current result on an Intel Xeon with AMX"): per
line, the peers' and taml-tf's medians per round, the ratios, ops per iteration, and memory:
whole-process peak and peak above the process's floor (the peers' floor: their RSS after
import). float32 (every plan), then mixed_bfloat16 (Bayesian TAML, against the same rounds'
float32 peers).

Usage: python table.py [FOLDER] [ROUNDS]   (default this script's folder, 2)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sitting_tables as t  # pylint: disable=g-import-not-at-top,wrong-import-position


def main(folder, rounds):
  rs = range(1, rounds + 1)
  peers = t.read_peers(folder)
  for precision in ('float32', 'bf16'):
    ours = {r: t.read_ours(os.path.join(folder, f'sitting_{precision}_r{r}.json')) for r in rs}
    print(f'\n{precision}:\n')
    print('| what (peer episodes) | peers ' + t.slash(f'r{r}' for r in rs) + ' (s) | taml-tf '
          + t.slash(f'r{r}' for r in rs) + ' (s) | ratio | ops / iteration | peers peak, above '
          'floor (MB) | taml-tf peak, above floor (MB) |')
    print('|---' * 7 + '|')
    for label, algo, shape, phase, variant in t.LINES:
      if (variant, shape, phase) not in ours[1]:
        continue
      p = [peers[f'r{r}', algo, shape, phase] for r in rs]
      o = [ours[r][variant, shape, phase] for r in rs]
      print(f'| {label} | {t.peer_seconds(p)} | {t.our_seconds(o)} | **{t.ratios(p, o)}** | '
            f"{o[0]['ops_per_iteration']:,} | {t.peer_memory(p)} | {t.our_memory(o)} |")


if __name__ == '__main__':
  main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)),
       int(sys.argv[2]) if len(sys.argv) > 2 else 2)
