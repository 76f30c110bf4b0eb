"""Search-expert settings side by side: kept demonstrations per CPU-second and their quality.

    python scripts/bench_search_expert.py --robot car --episodes 20 \\
        --runs sst:150 sst:300 sst:600 ditree-star:100 ditree-star:300 [--worlds grid] [--seed 0]

Each run ``PLANNER:ITERATIONS`` plans the same episode indices ``0..episodes-1`` (the same problems:
they depend on the seed and index only) in this process, one after the other, with
:func:`ditree.data.search_expert.solve_episode`, and prints one row: problems planned, kept
(succeeded and validated), CPU seconds in all, kept per CPU-second, median path duration / lower
bound of the kept paths (and of their first paths where the planner records them) and the median
iterations used.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from ditree.data.search_expert import SearchExpertConfig, problem_factory, solve_episode
    from envs.registry import make_robot

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robot", default="car")
    ap.add_argument("--episodes", type=int, default=20, help="episode indices 0..N-1 planned per run")
    ap.add_argument("--runs", nargs="+", default=["sst:300"], help="PLANNER:ITERATIONS per run")
    ap.add_argument("--worlds", default="auto")
    ap.add_argument("--kinds", nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--connect-tol", type=float, default=0.0)
    args = ap.parse_args(argv)
    robot = make_robot(args.robot)
    print(f"robot {args.robot}, worlds {args.worlds}, {args.episodes} problems per run, seed {args.seed}")
    print(f"{'run':>18} {'planned':>7} {'kept':>5} {'cpu_s':>8} {'kept/cpu_s':>10} {'med ratio':>9} "
          f"{'med first':>9} {'med iters':>9}")
    for run in args.runs:
        planner, _, iters = run.partition(":")
        cfg = SearchExpertConfig(planner=planner, iterations=int(iters), worlds=args.worlds,
                                 kinds=tuple(args.kinds or ()), connect_tol=args.connect_tol)
        factory = problem_factory(cfg, robot, args.seed)
        cpu, kept, ratios, firsts, its = 0.0, 0, [], [], []
        t0 = time.perf_counter()
        for i in range(args.episodes):
            rec = solve_episode(i, cfg, robot, factory)
            cpu += rec.meta["cpu_s"]
            its.append(rec.meta["iterations"])
            if rec.kept:
                kept += 1
                m = rec.meta
                if m.get("duration_ratio"):
                    ratios.append(m["duration_ratio"])
                    if m.get("first_duration_s") and m.get("lower_bound_s"):
                        firsts.append(m["first_duration_s"] / m["lower_bound_s"])
        med = (lambda v: f"{np.median(v):9.2f}" if v else f"{'-':>9}")
        print(f"{run:>18} {args.episodes:7d} {kept:5d} {cpu:8.1f} {kept / max(cpu, 1e-9):10.3f} {med(ratios)} "
              f"{med(firsts)} {np.median(its):9.0f}   (wall {time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
