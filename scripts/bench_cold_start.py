"""A plan in a fresh process against the same plan in a warm one (DiTree and SST by default).

    python scripts/bench_cold_start.py --runs 5
    python scripts/bench_cold_start.py --runs 5 --scenarios val_maze_small val_maze_large --planners ditree

Cold: ``--runs`` fresh Python processes, run ``i`` planning scenario ``i mod len(scenarios)`` with
seed ``i`` through ``ditree.api.plan`` (what ``ditree plan`` does). Warm: one process plans one
unmeasured problem first, then the same ``--runs`` (scenario, seed) pairs. The searches are the
same in both (same seeds), so the difference is what a fresh process pays. Per planner it prints
the medians (and min-max) of ``setup_s``, ``time_s``, their sum (what a user waits for before the
path is validated), ``validate_s`` (the final PyBullet check and bookkeeping after ``time_s``),
``wall_s`` (the whole ``plan`` call) and, for cold runs, the seconds to import the package; then
cold/warm ratios of the medians.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("setup_s", "time_s", "total_s", "validate_s", "wall_s")


def plan_once(planner: str, scenario: str, seed: int, time_limit: float) -> dict[str, float]:
    """One ``ditree.api.plan`` call timed: setup_s, time_s, total_s, validate_s and wall_s (s), success."""
    from ditree.api import plan
    from envs import validation_problem

    problem = validation_problem(scenario)
    t0 = time.perf_counter()
    r = plan(problem, planner, time_limit=time_limit, seed=seed)
    wall = time.perf_counter() - t0
    return {"setup_s": r.setup_s, "time_s": r.time_s, "total_s": r.setup_s + r.time_s,
            "validate_s": wall - r.setup_s - r.time_s, "wall_s": wall, "success": bool(r.success)}


def child(args: argparse.Namespace) -> None:
    """The body of a measuring process: prints one JSON line per measured plan."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import ditree.api  # noqa: F401  (what `ditree plan` imports before it plans)
    import_s = time.perf_counter() - t0
    jobs = json.loads(args.child)
    if args.warm_first:  # an unmeasured plan of another seed first: the process is warm
        plan_once(jobs[0][0], jobs[0][1], 10_000, args.time_limit)
    for planner, scenario, seed in jobs:
        print(json.dumps({**plan_once(planner, scenario, seed, args.time_limit), "import_s": import_s}), flush=True)


def run_child(jobs: list, warm_first: bool, time_limit: float) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(jobs), "--time-limit", str(time_limit)]
    if warm_first:
        cmd.append("--warm-first")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def summary(rows: list[dict], field: str) -> str:
    import numpy as np

    v = np.array([r[field] for r in rows])
    return f"{np.median(v):7.3f} ({v.min():.3f}-{v.max():.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes (and warm plans) per planner")
    ap.add_argument("--planners", nargs="+", default=["ditree", "sst"])
    ap.add_argument("--scenarios", nargs="+", default=["val_maze_small"])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--warm-first", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    import numpy as np

    for planner in args.planners:
        jobs = [(planner, args.scenarios[i % len(args.scenarios)], i) for i in range(args.runs)]
        cold = [run_child([job], False, args.time_limit)[0] for job in jobs]
        warm = run_child(jobs, True, args.time_limit)
        print(f"{planner}: {args.runs} plans of {', '.join(args.scenarios)}, seeds 0..{args.runs - 1}; "
              f"median (min-max) seconds; solved cold {sum(r['success'] for r in cold)}, "
              f"warm {sum(r['success'] for r in warm)}")
        for name, rows in (("cold", cold), ("warm", warm)):
            print(f"  {name}: " + "  ".join(f"{f} {summary(rows, f)}" for f in FIELDS)
                  + (f"  import_s {summary(rows, 'import_s')}" if name == "cold" else ""))
        for f in ("total_s", "time_s", "wall_s"):
            c, w = np.median([r[f] for r in cold]), np.median([r[f] for r in warm])
            print(f"  cold/warm {f}: {c / w:.2f}")


if __name__ == "__main__":
    main()
