"""Benchmark the PyBullet racecar: physics throughput and the validation scenarios (reduced).

    .venv/bin/python scripts/bench_racecar.py --seeds 2 --time-limit 20

Prints body-periods per second (one period = dt = 0.02 s = 4 physics steps) for batches of 1,
4, 16 and 64 bodies, then, for each planner and validation scenario (maps at 2 m per cell), the
solved count, mean time over solved runs and whether every success validated (re-simulated in
PyBullet from the start). Reduced protocol: few seeds, short limit; a noisy shared machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.problem import validation_problem
from envs.racecar import Racecar
from planners.rrt import KinodynamicRRT
from planners.samplers import UniformControlSampler
from planners.sst import SST
from planners.validate import finalize

SCENARIOS = ("val_maze_small", "val_maze_large", "val_maze_xlarge")


def throughput(robot: Racecar, sizes=(1, 4, 16, 64), periods: int = 25) -> None:
    rng = np.random.default_rng(0)
    for n in sizes:
        x0 = np.repeat(robot.rest_state(0, 0, 0)[None], n, 0)
        u = robot.sample_controls(rng, (n, periods))
        robot.rollout(x0, u)  # build the worlds
        t = time.perf_counter()
        robot.rollout(x0, u)
        dt = time.perf_counter() - t
        print(f"batch {n:3d}: {n * periods / dt:7.0f} body-periods/s ({4 * n * periods / dt:7.0f} physics body-steps/s)")


def make_planner(name: str):
    if name == "rrt":
        return KinodynamicRRT(batch_size=32)
    if name == "sst":  # longer extensions: the racecar accelerates slowly from rest
        return SST(batch_size=32, sampler=UniformControlSampler(min_steps=25, max_steps=75, min_hold=10, max_hold=40))
    raise SystemExit(f"unknown planner {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--planners", default="rrt,sst")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--skip-throughput", action="store_true")
    a = ap.parse_args()
    robot = Racecar()
    if not a.skip_throughput:
        throughput(robot)
    print(f"\nplanner  scenario         solved  mean time (s)  validated  (seeds {a.seeds}, limit {a.time_limit:g} s)")
    for pname in a.planners.split(","):
        for scen in a.scenarios.split(","):
            problem = validation_problem(scen, robot=robot)
            times, valid = [], []
            for seed in range(a.seeds):
                res = finalize(problem, make_planner(pname).solve(problem, a.time_limit, seed))
                if res.success:
                    times.append(res.time_s)
                valid.append(res.validated or not res.success)
            mean = f"{np.mean(times):.1f}" if times else "-"
            print(f"{pname:8s} {scen:16s} {len(times)}/{a.seeds}     {mean:>6s}         {all(valid)}", flush=True)


if __name__ == "__main__":
    main()
