"""Timing of the trajectory optimiser (planners/trajopt.py): goal connection and polish per robot.

For each robot and seed: the batched RRT plans on a small grid map (a wall hanging from the top;
start left of it, goal right of it) to a loose goal state (``--tolerance`` in the robot's metric);
:func:`planners.trajopt.connect_to_goal` then connects the path to the exact goal state, and
:func:`planners.trajopt.polish` shortens the connected path. Prints, per robot: connections that
succeeded, the first call's time (it builds the programme), the median and largest time of the
others (the programme cached), IPOPT iterations, and polish's time and step reduction. Every
connected and polished path is validated with PyBullet against the goal within 0.03.

With ``--dynobench``, the same on dynobench's instances (the ``dynobench`` suite of the data
directory, its box worlds read with ``envs.box_world.BoxWorld``) for the robots given.

    .venv/bin/python scripts/bench_trajopt.py
    .venv/bin/python scripts/bench_trajopt.py --robots car1_v0 --seeds 10 --no-polish
    .venv/bin/python scripts/bench_trajopt.py --dynobench --seeds 2 --robots unicycle1_v0,unicycle1_v2,car1_v0

Timings are wall-clock on a shared machine: noisy.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

from envs.goal import StateGoal
from envs.problem import Problem
from envs.registry import make_robot
from envs.world import GridMap
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT
from planners.trajopt import TrajOptParams, connect_to_goal, polish
from planners.validate import validate

HOOK = np.ones((10, 10), dtype=np.uint8)
HOOK[1:9, 1:9] = 0
HOOK[1:6, 5] = 1


def hook_problem(name: str, tolerance: float) -> Problem:
    robot = make_robot(name)
    base = Problem.from_cells(GridMap(HOOK, 0.5, "hook"), (3, 2), 90.0, (3, 7), robot=robot, goal_radius=0.25)
    return base.with_goal(StateGoal.for_robot(robot, robot.rest_state(*base.goal, math.pi / 2), tolerance))


def dynobench_problems(name: str, tolerance: float) -> list[Problem]:
    """The dynobench instances of robot ``name`` with a state goal of ``tolerance``."""
    import yaml

    from envs.box_world import BoxWorld
    from envs.suites import suite_dir

    robot = make_robot(name)
    out = []
    for f in sorted((suite_dir("dynobench") / "envs" / name).glob("*.yaml")):
        d = yaml.safe_load(f.read_text())
        world = BoxWorld.from_dynobench_environment(d["environment"], f.stem, str(f))
        r = d["robots"][0]
        goal = StateGoal.for_robot(robot, np.asarray(r["goal"], dtype=float), tolerance)
        out.append(Problem(robot, world, np.asarray(r["start"], dtype=float), goal, name=f"{name}/{f.stem}"))
    return out


def validated(problem: Problem, states: np.ndarray, controls: np.ndarray) -> bool:
    robot = problem.robot
    tight = problem.with_goal(StateGoal.for_robot(robot, problem.goal_region.state, 0.03))
    ok, _ = validate(tight, PlanResult(True, "trajopt", 0, 0.0, dt=robot.dt, states=states, controls=controls,
                                       robot=robot.name))
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", default="unicycle1_v0,car1_v0")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--tolerance", type=float, default=0.3, help="the loose goal the search plans to")
    ap.add_argument("--time-limit", type=float, default=10.0, help="RRT time limit per seed (s)")
    ap.add_argument("--no-polish", action="store_true")
    ap.add_argument("--dynobench", action="store_true", help="dynobench's instances instead of the grid map")
    args = ap.parse_args()
    params = TrajOptParams()
    print(f"load average {os.getloadavg()[0]:.1f}; {params}")
    problems = [p for name in args.robots.split(",") for p in (
        dynobench_problems(name, args.tolerance) if args.dynobench else [hook_problem(name, args.tolerance)])]
    for problem in problems:
        name = problem.robot.name if not args.dynobench else problem.name
        times, iters, ok, valid, n = [], [], 0, 0, 0
        pol_ms, pol_cut, pol_valid = [], [], 0
        for seed in range(args.seeds):
            path = KinodynamicRRT().solve(problem, args.time_limit, seed)
            if not path.success:
                continue
            n += 1
            res = connect_to_goal(problem, path.states, path.controls, params)
            times.append(res.time_s * 1000)
            iters.append(res.iterations)
            if not res.success:
                print(f"  {name} seed {seed}: {res.reason}")
                continue
            ok += 1
            valid += validated(problem, res.states, res.controls)
            if not args.no_polish:
                t = time.perf_counter()
                short = polish(problem, res.states, res.controls, params)
                pol_ms.append((time.perf_counter() - t) * 1000)
                pol_cut.append(1 - short.steps / res.steps if short.success else 0.0)
                pol_valid += short.success and validated(problem, short.states, short.controls)
        if not n:
            print(f"{name}: the RRT found no path")
            continue
        rest = times[1:] or times
        print(f"{name}: connected {ok}/{n} (validated {valid}); first call {times[0]:.0f} ms, then median "
              f"{np.median(rest):.0f} ms, max {max(rest):.0f} ms; iterations median {np.median(iters):.0f}")
        if pol_ms:
            print(f"  polish: median {np.median(pol_ms):.0f} ms, steps cut by median {100 * np.median(pol_cut):.0f}% "
                  f"(max {100 * max(pol_cut):.0f}%), shorter and validated {pol_valid}/{len(pol_ms)}")


if __name__ == "__main__":
    main()
