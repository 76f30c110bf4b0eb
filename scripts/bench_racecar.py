"""Benchmark the PyBullet racecar: physics throughput and the validation scenarios (reduced protocol).

    .venv/bin/python scripts/bench_racecar.py --seeds 3 --time-limit 30
    .venv/bin/python scripts/bench_racecar.py --skip-throughput --scenarios val_maze_small \\
        --planners sst,sst:delta_bn=1.0:delta_s=0.4,sst:min_steps=5:max_steps=25   # a parameter sweep

Prints control periods per second (one period = dt = 0.02 s = 4 physics steps of 5 ms) for one
body (batch 1) and batches of 4, 16 and 64 bodies, then, per planner spec and validation scenario
(the paper's maps at 2 m per cell, ``envs.problem``): solved runs, median planning time over solved
runs, median path duration, median tree size, and whether every success validated (re-simulated in
PyBullet from the start, collision-free and at the goal). Runs go through ``ditree.api.plan``.

A planner spec is ``name`` or ``name:key=value:...`` (parameters typed as for ``ditree plan
--param``). Timings are wall-clock on a shared machine: the load average is printed before and
after; treat them as noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCENARIOS = ("val_maze_small", "val_maze_large", "val_maze_xlarge")


def throughput(sizes=(1, 4, 16, 64), periods: int = 25) -> list[tuple[int, float]]:
    """Control periods per second of :meth:`Racecar.rollout` for each batch size (worlds prebuilt)."""
    from envs.racecar import Racecar

    robot = Racecar()
    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        x0 = np.repeat(robot.rest_state(0, 0, 0)[None], n, 0)
        u = robot.sample_controls(rng, (n, periods))
        robot.rollout(x0, u)  # build the worlds
        best = np.inf
        for _ in range(3):  # best of 3: the machine is shared
            t = time.perf_counter()
            robot.rollout(x0, u)
            best = min(best, time.perf_counter() - t)
        out.append((n, n * periods / best))
    robot.close()
    return out


def _run(job: tuple[str, str, int, float]) -> dict:
    import torch

    torch.set_num_threads(1)
    from ditree.api import plan
    from ditree.registry import parse_params
    from envs.problem import validation_problem
    from envs.racecar import Racecar

    spec, scenario, seed, time_limit = job
    name, *items = spec.split(":")
    params = parse_params(name, items)
    if name in ("rrt", "sst"):
        params.setdefault("record_tree", False)
    problem = validation_problem(scenario, robot=Racecar())
    res = plan(problem, planner=name, time_limit=time_limit, seed=seed, **params)
    problem.robot.close()
    return {"planner": spec, "scenario": scenario, "seed": seed, "success": res.success, "validated": res.validated,
            "time_s": res.time_s, "duration_s": res.path_duration_s, "nodes": res.nodes}


def _median(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}" if xs else "-"


def report(rows: list[dict]) -> str:
    head = (f"{'planner':<36} {'scenario':<16} {'solved':>7} {'med time s':>10} {'med dur s':>9} "
            f"{'med nodes':>9} {'validated':>9}")
    lines = [head]
    keys = list(dict.fromkeys((r["planner"], r["scenario"]) for r in rows))
    for spec, scen in keys:
        rs = [r for r in rows if r["planner"] == spec and r["scenario"] == scen]
        ok = [r for r in rs if r["success"]]
        lines.append(f"{spec:<36} {scen:<16} {len(ok):>3}/{len(rs):<3} {_median([r['time_s'] for r in ok]):>10} "
                     f"{_median([r['duration_s'] for r in ok]):>9} {_median([r['nodes'] for r in ok]):>9} "
                     f"{all(r['validated'] for r in ok)!s:>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--planners", default="ditree,rrt,sst", help="comma-separated planner specs (default ditree,rrt,sst)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--processes", type=int, default=1, help="runs in parallel (default 1: physics is per core)")
    ap.add_argument("--skip-throughput", action="store_true")
    a = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    if not a.skip_throughput:
        for n, rate in throughput():
            label = "single" if n == 1 else "batched"
            print(f"{label:7s} batch {n:3d}: {rate:7.0f} control periods/s ({4 * rate:7.0f} physics body-steps/s, "
                  f"{1e6 / rate:5.1f} us per body-period)", flush=True)
    if a.seeds > 0 and a.planners:
        jobs = [(spec, scen, seed, a.time_limit)
                for spec in a.planners.split(",") for scen in a.scenarios.split(",") for seed in range(a.seeds)]
        print(f"\n{len(jobs)} runs, limit {a.time_limit:g} s, {a.processes} process(es)", flush=True)
        t0 = time.perf_counter()
        if a.processes > 1:
            with mp.get_context("spawn").Pool(a.processes, maxtasksperchild=4) as pool:
                rows = pool.map(_run, jobs, chunksize=1)
        else:
            rows = [_run(j) for j in jobs]
        print(report(rows))
        print(f"total wall time {time.perf_counter() - t0:.0f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
