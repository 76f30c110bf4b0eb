"""Benchmark planners on the paper's validation scenarios (or the test scenarios).

Planners x scenarios x seeds, each run through ``ditree.api.plan`` (so every success is validated
with PyBullet), in ``--processes`` worker processes. Prints, per planner and scenario: success
rate, median time to solution (over successes), median path duration and median tree size.

    .venv/bin/python scripts/bench_planners.py                      # defaults: 5 planners, 3 scenarios, 5 seeds, 30 s
    .venv/bin/python scripts/bench_planners.py --seeds 2 --time-limit 10
    .venv/bin/python scripts/bench_planners.py --planners rrt:batch_size=32,rrt:batch_size=128 --seeds 10
    .venv/bin/python scripts/bench_planners.py --nn                 # nearest-neighbour structures only

A planner spec is ``name`` or ``name:key=value:key=value`` (parameters typed as for ``--param``).
Timings are wall-clock on a shared machine: treat them as noisy. Running two processes on two
cores also slows each run somewhat compared with one process alone.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_PLANNERS = "rrt,sst,ompl-rrt,ompl-kpiece,ompl-est"
VALIDATION = ("val_maze_small", "val_maze_large", "val_maze_xlarge")


def _run(job: tuple[str, str, str, int, float]) -> dict:
    spec, suite, scenario, seed, time_limit = job
    from ditree.api import plan
    from ditree.registry import parse_params
    from envs.problem import test_problem, validation_problem

    name, *items = spec.split(":")
    params = parse_params(name, items)
    problem = validation_problem(scenario) if suite == "validation" else test_problem(scenario)
    t0 = time.perf_counter()
    res = plan(problem, planner=name, time_limit=time_limit, seed=seed, **params, **_no_tree(name))
    return {
        "planner": spec, "scenario": scenario, "seed": seed, "success": res.success, "validated": res.validated,
        "time_s": res.time_s, "wall_s": time.perf_counter() - t0, "duration_s": res.path_duration_s,
        "length_m": res.path_length_m, "nodes": res.nodes, "reason": res.reason,
    }


def _init_worker(processes: int, threads: int) -> None:
    from ditree.eval.backends import share_cores

    if threads:
        import torch

        torch.set_num_threads(threads)
    else:
        share_cores(processes)


def _no_tree(name: str) -> dict:
    return {"record_tree": False} if name in ("rrt", "sst") else {}


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def report(rows: list[dict]) -> str:
    lines = [f"{'planner':<28} {'scenario':<16} {'success':>8} {'med time s':>10} {'med dur s':>9} {'med nodes':>9}"]
    keys = sorted({(r["planner"], r["scenario"]) for r in rows}, key=lambda k: (k[0], VALIDATION.index(k[1]) if k[1] in VALIDATION else 9, k[1]))
    for planner, scen in keys:
        rs = [r for r in rows if r["planner"] == planner and r["scenario"] == scen]
        ok = [r for r in rs if r["success"]]
        lines.append(
            f"{planner:<28} {scen:<16} {len(ok):>3}/{len(rs):<4} {_median([r['time_s'] for r in ok]):>10.2f} "
            f"{_median([r['duration_s'] for r in ok]):>9.2f} {_median([float(r['nodes']) for r in rs]):>9.0f}"
        )
    for planner in sorted({r["planner"] for r in rows}):
        rs = [r for r in rows if r["planner"] == planner]
        ok = [r for r in rs if r["success"]]
        lines.append(f"{planner:<28} {'ALL':<16} {len(ok):>3}/{len(rs):<4} {_median([r['time_s'] for r in ok]):>10.2f} "
                     f"{_median([r['duration_s'] for r in ok]):>9.2f}")
    bad = [r for r in rows if not r["success"] and "validation" in r["reason"]]
    for r in bad:
        lines.append(f"VALIDATION FAILURE {r['planner']} {r['scenario']} seed {r['seed']}: {r['reason']}")
    return "\n".join(lines)


def bench_nn(sizes=(1_000, 10_000, 100_000), batch: int = 256, insert: int = 100) -> None:
    """Nearest-neighbour structures under the RRT's pattern: per iteration ``batch`` queries
    uniform over a 15 m x 15 m map and ``insert`` new points; the tree occupies a band of the map."""
    import numpy as np

    from planners.nearest import GridNearest, LogKDTree

    b = (-7.5, 7.5, -7.5, 7.5)
    makers = {"logkd": lambda: LogKDTree(), "grid 0.5 m": lambda: GridNearest(b, 0.5), "grid 0.25 m": lambda: GridNearest(b, 0.25)}
    print(f"nearest neighbours: ms per iteration ({batch} queries + {insert} insertions)")
    for n in sizes:
        for label, make in makers.items():
            rng = np.random.default_rng(1)
            pts = rng.uniform(-7.5, 7.5, (n, 2)) * np.array([1.0, 0.3])
            idx = make()
            idx.add(pts[: max(n - 5000, n // 2)])
            t0, k = time.perf_counter(), 0
            while len(idx) < n:
                idx.query(rng.uniform(-7.5, 7.5, (batch, 2)))
                idx.add(pts[len(idx) : len(idx) + insert])
                k += 1
            print(f"  {n:>7} nodes  {label:<12} {(time.perf_counter() - t0) / k * 1e3:8.2f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--planners", default=DEFAULT_PLANNERS, help=f"comma-separated planner specs (default: {DEFAULT_PLANNERS})")
    ap.add_argument("--scenarios", default=",".join(VALIDATION), help="comma-separated scenario names")
    ap.add_argument("--suite", choices=("validation", "test"), default="validation")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads per worker (default: the cores shared among the workers); use 1 when "
                         "other work runs, since torch's threads spin-wait on an oversubscribed CPU")
    ap.add_argument("--json", help="write all rows to this JSON file")
    ap.add_argument("--nn", action="store_true", help="benchmark the nearest-neighbour structures instead")
    args = ap.parse_args(argv)
    if args.nn:
        bench_nn()
        return 0
    jobs = [(spec, args.suite, scen, seed, args.time_limit)
            for scen in args.scenarios.split(",") for seed in range(args.seeds) for spec in args.planners.split(",")]
    # planners interleaved (not one after another) so that load changes on a shared machine hit them alike
    print(f"{len(jobs)} runs: {args.planners} x {args.scenarios} x {args.seeds} seeds, {args.time_limit:g} s, "
          f"{args.processes} processes", flush=True)
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")

    with ctx.Pool(args.processes, initializer=_init_worker, initargs=(args.processes, args.threads), maxtasksperchild=10) as pool:
        rows = pool.map(_run, jobs, chunksize=1)
    print(report(rows))
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
