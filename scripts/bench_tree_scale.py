"""Time per iteration against tree size in a long anytime run (does an iteration slow down as the tree grows?).

    python scripts/bench_tree_scale.py --planner sst --max-nodes 120000 --time-limit 300
    python scripts/bench_tree_scale.py --planner ditree-star --max-nodes 120000 --time-limit 300

Plans one scenario (default the largest map, ``random huge easy``, 31 x 31 cells) with an anytime
planner that does not stop at its first solution, until the tree holds ``--max-nodes`` nodes or the
time limit passes. Records, at every iteration, the wall and CPU time and the tree size (1 + the planner's
own ``accepted`` counter: every node ever added, pruned ones included, as ``len(tree)``), through a
wrapper around ``planners.search.SearchLoop.running`` (the script's only hook). Prints the curve:
per node-count bucket around 10^3, 10^4 and 10^5 (a factor 2 either side) the iterations, the
median and mean wall milliseconds per iteration, the median process CPU milliseconds (steadier on a
machine that others load), the ratios of each bucket's medians to the 10^3 bucket's, and the
mean wall milliseconds per iteration of each profile phase. An iteration's work varies (``ditree-star`` alternates one policy iteration with
``random_iters`` random-control ones), so compare medians, over many iterations.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from ditree.registry import make_planner
from envs.problem import suite_problem
from planners.search import SearchLoop

BUCKETS = (1_000, 10_000, 100_000)


def traced_solve(planner, problem, time_limit: float, seed: int, max_nodes: int):
    """``planner.solve`` with a per-iteration trace: returns (result, times (I+1,), nodes (I+1,),
    phases), the wall time, tree size and the profile's seconds per phase (dicts) when each
    ``running`` check was made (the last stops the loop)."""
    times: list[tuple[float, float]] = []
    nodes: list[int] = []
    phases: list[dict[str, float]] = []
    original = SearchLoop.running

    def running(loop: SearchLoop, stop: bool = False) -> bool:
        n = 1 + loop.counters.get("accepted", 0)
        times.append((time.perf_counter(), time.process_time()))
        nodes.append(n)
        phases.append(dict(loop.prof.seconds))
        return n < max_nodes and original(loop, stop)

    SearchLoop.running = running
    try:
        result = planner.solve(problem, time_limit, seed)
    finally:
        SearchLoop.running = original
    return result, np.array(times), np.array(nodes), phases


def bucket_rows(nodes: np.ndarray, b: int) -> np.ndarray:
    """Indices of the iterations that began with ``b/2 <= nodes < 2 b``."""
    start = nodes[:-1]
    return np.flatnonzero((start >= b / 2) & (start < 2 * b))


def curve(times: np.ndarray, nodes: np.ndarray) -> list[tuple[int, int, float, float, float]]:
    """Per bucket of :data:`BUCKETS` (see :func:`bucket_rows`): (bucket, iterations, median wall ms,
    mean wall ms, median CPU ms) per iteration; ``times`` ``(I+1, 2)`` = (wall, process CPU) seconds."""
    ms = np.diff(times, axis=0) * 1e3
    out = []
    for b in BUCKETS:
        sel = bucket_rows(nodes, b)
        if len(sel):
            out.append((b, len(sel), float(np.median(ms[sel, 0])), float(np.mean(ms[sel, 0])),
                        float(np.median(ms[sel, 1]))))
    return out


def phase_means(nodes: np.ndarray, phases: list[dict[str, float]], b: int) -> dict[str, float]:
    """Mean milliseconds per iteration of each profile phase over the iterations of bucket ``b``."""
    sel = bucket_rows(nodes, b)
    if not len(sel):
        return {}
    first, last = phases[sel[0]], phases[sel[-1] + 1]
    return {k: round(1e3 * (last[k] - first.get(k, 0.0)) / len(sel), 2) for k in last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--planner", default="sst", help="sst (run anytime) or ditree-star")
    ap.add_argument("--scenario", default="random huge easy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--max-nodes", type=int, default=120_000)
    args = ap.parse_args()
    params = {"record_tree": False}
    if args.planner == "sst":
        params["return_first"] = False
    planner = make_planner(args.planner, **params)
    problem = suite_problem(args.scenario)
    result, times, nodes, phases = traced_solve(planner, problem, args.time_limit, args.seed, args.max_nodes)
    print(f"{args.planner} on {args.scenario!r} (map {problem.world.name}, {problem.world.grid.shape}), seed {args.seed}: "
          f"{result.iterations} iterations, {nodes[-1]} nodes in {times[-1, 0] - times[0, 0]:.1f} s "
          f"({times[-1, 1] - times[0, 1]:.1f} s CPU); "
          f"success {result.success}, duration {len(result.controls) * result.dt:.2f} s")
    print("profile (s):", {k: round(v, 2) for k, v in result.profile.items()})
    rows = curve(times, nodes)
    base = rows[0] if rows and rows[0][0] == BUCKETS[0] else None
    print(f"{'nodes':>8} {'iters':>6} {'median ms':>10} {'mean ms':>8} {'ratio':>6} {'CPU ms':>7} {'ratio':>6}")
    for b, n, med, mean, cpu in rows:
        ratio = f"{med / base[2]:6.2f} {cpu:7.2f} {cpu / base[4]:6.2f}" if base else f"     - {cpu:7.2f}      -"
        print(f"{b:>8} {n:>6} {med:>10.2f} {mean:>8.2f} {ratio}   phases (mean wall ms): {phase_means(nodes, phases, b)}")


if __name__ == "__main__":
    main()
