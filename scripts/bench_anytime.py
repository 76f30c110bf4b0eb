"""Path quality over time: first solution, first and final duration ratio, on the paper's test scenarios.

For each planner x scenario (one trial, ``--seed``), a run of ``--time-limit`` seconds through
``ditree.api.plan`` (every returned path validated with PyBullet). Anytime planners
(``ditree-star``, ``sst:return_first=false``) report ``extra["cost_history"]``; one-shot planners
(``ditree``, ``ompl-kpiece``) stop at their first path, which then is also their final one.
duration ratio = path duration / lower bound (``envs.lower_bound``, see docs/benchmarks.md).

Prints a per-scenario table and, per planner, solved count, median first-solution time and median
first and final ratios; writes every run to ``OUT/anytime_runs.jsonl`` (as it finishes) and a plot
of the median ratio of the best path so far against time to ``OUT/anytime_ratio.png``.

    .venv/bin/python scripts/bench_anytime.py                       # 4 planners x 15 scenarios x 30 s
    .venv/bin/python scripts/bench_anytime.py --scenarios 5 --time-limit 15 --workers 2
    .venv/bin/python scripts/bench_anytime.py --random-policy --planners ditree-star,sst:return_first=false
    .venv/bin/python scripts/bench_anytime.py --replot OUT/anytime_runs.jsonl

``--random-policy`` plans with a tiny random-weight policy (for development before the shipped
checkpoint exists). Workers run with one torch thread each (``--threads``): on a shared 2-core
machine two torch threads per process made policy calls many times slower (docs/benchmarks.md,
'Policy precision and CUDA graphs'). Timings are wall-clock on
a shared machine: noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_PLANNERS = "ditree,ditree-star,sst:return_first=false,ompl-kpiece"
_STATE: dict = {}


def _init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run(job: tuple[str, str, int, float, str | None]) -> dict:
    spec, scenario, seed, time_limit, checkpoint = job
    from ditree.api import plan
    from ditree.registry import parse_params
    from envs.problem import test_problem

    name, *items = spec.split(":")
    params = parse_params(name, items)
    if checkpoint and name.startswith("ditree") and "checkpoint" not in params:
        params["checkpoint"] = checkpoint
    if name in ("rrt", "sst", "ditree", "ditree-star"):
        params.setdefault("record_tree", False)
    if name.startswith("ditree"):
        params.setdefault("device", "cpu")
    problem = test_problem(scenario)
    t0 = time.perf_counter()
    try:
        res = plan(problem, planner=name, time_limit=time_limit, seed=seed, **params)
    except Exception as e:  # noqa: BLE001 - one failed run must not end the benchmark
        return {"planner": spec, "scenario": scenario, "seed": seed, "success": False, "reason": f"{type(e).__name__}: {e}"}
    lb = res.lower_bound_s
    hist = res.extra.get("cost_history") if res.success else None
    if res.success and not hist:  # one-shot planner: its first path is its only path
        hist = [[res.time_s, res.path_duration_s]]
    first_t = res.extra.get("first_time_s", hist[0][0] if hist else None) if res.success else None
    first_d = res.extra.get("first_duration_s", hist[0][1] if hist else None) if res.success else None
    return {
        "planner": spec, "scenario": scenario, "seed": seed, "success": bool(res.success), "validated": res.validated,
        "time_s": res.time_s, "wall_s": time.perf_counter() - t0, "lower_bound_s": lb,
        "first_time_s": first_t,
        "first_ratio": first_d / lb if (first_d is not None and lb) else None,
        "final_ratio": res.duration_ratio,
        "history": [[t, d / lb] for t, d in hist] if (hist and lb) else [],
        "nodes": res.nodes, "iterations": res.iterations, "reason": res.reason,
    }


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def _fmt(x, nd: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def report(rows: list[dict]) -> str:
    planners = list(dict.fromkeys(r["planner"] for r in rows))
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    by = {(r["planner"], r["scenario"]): r for r in rows}
    out = ["per scenario: first solution time s / first ratio / final ratio", ""]
    head = f"{'scenario':<22}" + "".join(f" {p[:26]:>26}" for p in planners)
    out.append(head)
    for s in scenarios:
        cells = []
        for p in planners:
            r = by.get((p, s))
            if r is None or not r["success"]:
                cells.append(f" {'fail':>26}")
            else:
                cells.append(f" {_fmt(r['first_time_s']) + ' / ' + _fmt(r['first_ratio'], 1) + ' / ' + _fmt(r['final_ratio'], 2):>26}")
        out.append(f"{s:<22}" + "".join(cells))
    out += ["", f"{'planner':<30} {'solved':>7} {'med first s':>11} {'med first ratio':>15} {'med final ratio':>15}"]
    for p in planners:
        rs = [r for r in rows if r["planner"] == p]
        ok = [r for r in rs if r["success"]]
        out.append(f"{p:<30} {len(ok):>3}/{len(rs):<3} {_fmt(_median([r['first_time_s'] for r in ok])):>11} "
                   f"{_fmt(_median([r['first_ratio'] for r in ok])):>15} {_fmt(_median([r['final_ratio'] for r in ok])):>15}")
    out.append("(medians over solved runs; ratio = path duration / lower bound)")
    return "\n".join(out)


def ratio_at(history: list[list[float]], t: float) -> float:
    """Ratio of the best path found by time ``t`` (inf before the first)."""
    best = math.inf
    for ti, ri in history:
        if ti <= t:
            best = min(best, ri)
    return best


def plot(rows: list[dict], path: Path, time_limit: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ts = np.geomspace(0.05, time_limit, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in dict.fromkeys(r["planner"] for r in rows):
        rs = [r for r in rows if r["planner"] == p]
        med = [statistics.median([ratio_at(r.get("history") or [], t) for r in rs]) for t in ts]
        med = np.array(med, dtype=float)
        med[~np.isfinite(med)] = np.nan  # the median run has no path yet
        ax.step(ts, med, where="post", label=f"{p} ({sum(r['success'] for r in rs)}/{len(rs)} solved)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(2.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("planning time (s)")
    ax.set_ylabel("median duration / lower bound (best path so far)")
    ax.set_title(f"path quality over time, {len({r['scenario'] for r in rows})} test scenarios")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _tiny_checkpoint(folder: Path) -> str:
    import torch

    from ditree.policy import FlowPolicy, PolicyConfig, save_policy

    torch.manual_seed(0)
    cfg = PolicyConfig(hidden_dim=32, num_blocks=1, map_channels=(4, 8), map_embed_dim=16, cond_dim=32, time_embed_dim=8)
    save_policy(FlowPolicy(cfg).eval(), folder / "tiny_random")
    return str(folder / "tiny_random")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--planners", default=DEFAULT_PLANNERS, help=f"comma-separated planner specs (default: {DEFAULT_PLANNERS})")
    ap.add_argument("--scenarios", default="15", help="a count N (the first N test scenarios) or comma-separated names")
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    ap.add_argument("--random-policy", action="store_true", help="ditree planners use a tiny random-weight policy")
    ap.add_argument("--out", default="bench_anytime_out", help="output folder (runs JSONL and PNG)")
    ap.add_argument("--replot", help="only re-read this runs JSONL, print the tables and redraw the plot")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        rows = [json.loads(line) for line in Path(args.replot).read_text().splitlines() if line.strip()]
        tl = max((r.get("time_s") or 0) for r in rows) or args.time_limit
        print(report(rows))
        plot(rows, out / "anytime_ratio.png", tl)
        print(f"plot: {out / 'anytime_ratio.png'}")
        return 0

    from envs.suites import suite_scenarios

    with open(suite_scenarios("ditree_car", "test"), newline="") as f:
        names = [row["scenario_name"] for row in csv.DictReader(f)]
    scenarios = names[: int(args.scenarios)] if args.scenarios.isdigit() else args.scenarios.split(",")
    tmp = tempfile.TemporaryDirectory()
    checkpoint = _tiny_checkpoint(Path(tmp.name)) if args.random_policy else None
    jobs = [(spec, s, args.seed, args.time_limit, checkpoint) for s in scenarios for spec in args.planners.split(",")]
    print(f"{len(jobs)} runs: {args.planners} x {len(scenarios)} scenarios, {args.time_limit:g} s, seed {args.seed}, "
          f"{args.workers} workers" + (" (random-weight policy)" if checkpoint else ""), flush=True)
    t0 = time.perf_counter()
    rows = []
    jsonl = out / "anytime_runs.jsonl"
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, initializer=_init, initargs=(args.threads,), maxtasksperchild=4) as pool, \
            open(jsonl, "w") as fh:
        for row in pool.imap_unordered(_run, jobs):
            rows.append(row)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"  {row['planner']:<28} {row['scenario']:<20} success={row['success']} "
                  f"first={_fmt(row.get('first_time_s'))} s ratio {_fmt(row.get('first_ratio'), 1)} -> "
                  f"{_fmt(row.get('final_ratio'))}", flush=True)
    order = {(spec, s): i for i, (spec, s, *_rest) in enumerate(jobs)}
    rows.sort(key=lambda r: order.get((r["planner"], r["scenario"]), 0))
    print(report(rows))
    plot(rows, out / "anytime_ratio.png", args.time_limit)
    print(f"total wall time {time.perf_counter() - t0:.0f} s; runs: {jsonl}; plot: {out / 'anytime_ratio.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
