"""DiTree with 1 and 2 torch CPU threads, interleaved on the same problems (validation scenarios).

    python scripts/bench_threads.py --seeds 4

Prints, per thread count, the problems solved, the median and mean time to solution and the
seconds per iteration. Run it both on an idle machine and with other work on the cores.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from ditree.planner import DiTreeParams, DiTreePlanner
from envs.problem import validation_problem

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--seeds", type=int, default=4)
args = ap.parse_args()
pl = DiTreePlanner(DiTreeParams(threads=None))  # the thread count is set below, per run
probs = [validation_problem(n) for n in ("val_maze_small", "val_maze_large", "val_maze_xlarge")]
res = {1: [], 2: []}
for seed in range(args.seeds):
    for p in probs:
        for th in (1, 2):
            torch.set_num_threads(th)
            r = pl.solve(p, 30.0, seed)
            res[th].append((r.success, r.time_s, r.iterations))
for th in (1, 2):
    t = [x[1] for x in res[th]]
    print(th, "threads: solved", sum(x[0] for x in res[th]), "/", len(t), "median", round(float(np.median(t)), 3), "mean", round(float(np.mean(t)), 3),
          "s/iter", round(float(np.sum(t) / sum(x[2] for x in res[th])), 4))
