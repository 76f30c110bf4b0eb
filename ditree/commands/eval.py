"""``ditree eval``: run planners on the scenarios of a benchmark suite or a scenario file, many
trials each, and write the reports::

    ditree eval --suite ditree_car --out runs/ood                     # the 15 test scenarios
    ditree eval --suite ditree_car --split validation --out runs/val  # the 3 validation mazes
    ditree eval --scenarios my.csv --maps my_maps/ --out runs/mine    # your own scenario file

Every (scenario, planner, trial) runs in its own fresh process (``--workers`` at a time) with the
seed ``ditree.eval.spec.derive_seed(--seed, scenario, planner, trial)``. A rerun with the same
arguments skips the runs already in ``OUT/runs.jsonl``. See ``ditree.eval.runner`` for the files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "eval"
HELP = "evaluate planners on scenarios (many trials, resumable; summaries, plots, Planner Arena database)"
DESCRIPTION = (
    "Run every (scenario, planner, trial) in its own process and write OUT/runs.jsonl (one line per run, "
    "flushed as it finishes), OUT/results/*.json, summary.csv/.md, success plots, benchmark.db (OMPL benchmark "
    "database for Planner Arena) and ompl_logs/. Run seeds: sha256('SEED/scenario/planner/trial'), first 4 bytes, "
    "31 bits (ditree.eval.spec.derive_seed). Rerunning the same command skips runs already in runs.jsonl "
    "(key: scenario, planner, trial, seed, time limit, and the robot unless it is the car)."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.commands._suites import add_data_dir, suite_names

    p.add_argument("--suite", choices=suite_names(), default=None,
                   help="benchmark suite (default without --scenarios: ditree_car, the paper's scenarios)")
    p.add_argument("--split", default=None,
                   help="scenario file of the suite: ditree_car has 'test' (default, 15 scenarios) and 'validation' (3)")
    add_data_dir(p)
    p.add_argument("--scenarios", type=Path, default=None, help="your own scenario CSV instead of a suite")
    p.add_argument("--maps", type=Path, default=None,
                   help="folder of map CSVs for --scenarios (default: the csv's sibling maps/)")
    p.add_argument("--robot", default="car",
                   help="registered robot (default: car; see `ditree robots`); maps are used at its cell size (the "
                        "racecar's: 2 m). Recorded in runs.jsonl and part of the resume key")
    p.add_argument("--planners", default="ditree,sst,rrt,dp", help="comma-separated registry names")
    p.add_argument("--trials", type=int, default=20, help="trials per scenario and planner (default 20)")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per run (default 120)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--workers", type=int, default=0, help="runs at once (default 0 = one per CPU core)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the run seeds (default 0)")
    p.add_argument("--no-results", action="store_true", help="do not save each run's PlanResult JSON")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local process pool (default) or a Ray cluster (pip install 'ditree[distributed]')")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--param", action="append", default=[], metavar="PLANNER:KEY=VALUE",
                   help="a planner parameter, e.g. rrt:batch_size=64 (repeatable). Parameters are not part of "
                        "the resume key: use a new --out when changing them")


def parse_planner_params(items: list[str]) -> dict[str, dict]:
    """``["rrt:batch_size=64", ...]`` -> ``{"rrt": {"batch_size": 64}}``, typed by the registry."""
    from ditree.registry import parse_params
    from envs.errors import DitreeInputError

    by_planner: dict[str, list[str]] = {}
    for item in items:
        planner, sep, kv = item.partition(":")
        if not sep or not planner.strip() or "=" not in kv:
            raise DitreeInputError(f"--param {item!r}: expected PLANNER:KEY=VALUE")
        by_planner.setdefault(planner.strip(), []).append(kv)
    return {p: parse_params(p, kvs) for p, kvs in by_planner.items()}


def config_from_args(args: argparse.Namespace):
    from ditree.eval import EvalConfig, check_planners

    planners = tuple(args.planners.split(","))
    check_planners([p.strip() for p in planners if p.strip()])
    return EvalConfig(
        scenarios_csv=args.scenarios, out=args.out, planners=planners, maps_dir=args.maps,
        suite=args.suite, split=args.split, data_dir=args.data_dir,
        trials=args.trials, time_limit=args.time_limit, workers=args.workers, seed=args.seed,
        save_results=not args.no_results, backend=args.backend, address=args.address, progress=not args.no_progress,
        planner_params=parse_planner_params(args.param), robot=getattr(args, "robot", "car"),
    )


def print_report(report) -> None:
    print(f"{report.total} runs: {report.ran} run now, {report.skipped} already in {report.files['runs']} "
          f"({report.wall_s:.1f} s)")
    for r in report.summary:
        if r["scenario"] == "ALL":
            t = "-" if r["mean_time_s"] is None else f"{r['mean_time_s']:.2f} s"
            print(f"  {r['planner']:>12}: success {100 * r['success_rate']:.0f}% ({r['successes']}/{r['runs']}), "
                  f"mean time over successes {t}")
    print(f"wrote {report.files['summary_md']}, {report.files['summary_csv']}, {report.files['benchmark_db']}, "
          f"plots and logs in {report.out}")


def run(args: argparse.Namespace) -> int:
    from ditree.eval import run_eval

    print_report(run_eval(config_from_args(args)))
    return 0
