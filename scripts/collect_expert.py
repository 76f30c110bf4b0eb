"""Benchmark the expert: collection speed in the training map, and its success rate in other maps.

    .venv/bin/python scripts/collect_expert.py --episodes 2000 --workers 2
    .venv/bin/python scripts/collect_expert.py --episodes 0 --maps narrow_short boxes Race_Track

Prints wall time, kept episodes and state-control pairs per second, and the expert's success rate
(problems attempted vs solved, and why the rest were rejected). Timings depend on machine load.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from ditree.data.expert import ExpertConfig, ExpertRunner, collect
from envs.suites import suite_map
from envs.world import GridMap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--map", default=None, help="map CSV (default: d4rl_large of the ditree_car suite)")
    ap.add_argument("--episodes", type=int, default=2000, help="kept episodes to collect (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--maps", nargs="*", default=[], help="benchmark map names to measure the expert's success in")
    ap.add_argument("--problems", type=int, default=512, help="problems per map for --maps")
    args = ap.parse_args()

    if args.episodes:
        world = GridMap.from_csv(args.map or suite_map("ditree_car", "d4rl_large"))
        t0 = time.perf_counter()
        ds = collect(world, args.episodes, args.seed, args.workers, progress=False)
        dt = time.perf_counter() - t0
        c = ds.metadata["counts"]
        print(f"collect {world.name}: {c['episodes']} episodes, {c['pairs']} pairs in {dt:.1f} s with "
              f"{args.workers} worker(s) ({c['episodes'] / dt:.0f} episodes/s, {c['pairs'] / dt / 1e3:.1f} k pairs/s)")
        print(f"  expert success {c['solved']}/{c['attempted']} = {100 * c['success_rate']:.1f}%, "
              f"rejected {c['rejected']}, {c['tries']} simulated tries, validated with {ds.metadata['validator']}")
        print(f"  starts in motion {c['moving_starts_solved']}/{c['moving_starts_attempted']}, "
              f"path behind the car {c['behind_solved']}/{c['behind_attempted']}")
    warnings.filterwarnings("ignore", message="PyBullet collision checker unavailable")
    for name in args.maps:
        world = GridMap.from_csv(suite_map("ditree_car", name))
        t0 = time.perf_counter()
        res = ExpertRunner(world, ExpertConfig()).run_batch(np.random.default_rng(args.seed), args.problems)
        st = res.status
        print(f"expert in {name} {world.shape}: {len(res.episodes)}/{res.attempted} solved "
              f"({100 * np.mean(st == 0):.1f}%; at rest {100 * np.mean(st[~res.moving] == 0):.1f}%, "
              f"moving {100 * np.mean(st[res.moving] == 0):.1f}%, path behind {100 * np.mean(st[res.behind] == 0):.1f}%) "
              f"rejected {res.rejected} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
