"""Out-of-distribution evaluation with the paper's protocol (or a quick version of it).

    python scripts/evaluate_ood.py --protocol paper [--planners ditree,sst,rrt,dp] [--out DIR] [--workers W]
    python scripts/evaluate_ood.py --protocol quick ...
    python scripts/evaluate_ood.py --protocol paper --dry-run     # print the run count and time estimate

Protocols (docs/policy.md, 'Evaluation protocol'), on the ditree_car suite's 15 test scenarios
(from the benchmark data directory: ``--data-dir``, ``$DITREE_DATA`` or shared/benchmarks beside the
repository), maps never seen in training:

    paper   20 trials per scenario and planner, 120 s per run
    quick    3 trials per scenario and planner,  30 s per run

Uses the public evaluation module (``ditree.eval``): every run in its own process, resumable (rerun
the same command after an interruption), reports in ``--out`` (runs.jsonl, summary.md/csv, plots,
benchmark.db for Planner Arena). Seeds: ``ditree.eval.spec.derive_seed(--seed, scenario, planner, trial)``.

How long it takes. With S scenarios, P planners, N trials, time limit T, W workers and a per-run
overhead o (process start from the fork server, problem set-up, path validation), the worst case
(every run times out) is

    wall ~= S * P * N * (T + o) / W

o about 1 s on a 2-core machine (docs/benchmarks.md, 'Evaluation overhead'). On 2 cores (W = 2),
15 scenarios, 4 planners:

    quick: 15 * 4 * 3  * (30 + 1)  / 2 =  2,790 s ~ 47 min   (worst case)
    paper: 15 * 4 * 20 * (120 + 1) / 2 = 72,600 s ~ 20 h     (worst case)

Runs that succeed end early, so the real figure is far lower. More cores or ``--backend ray`` over
a cluster divide the figure by the worker count.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ditree.cli import import_robot_modules
from ditree.commands.eval import print_report
from ditree.eval import EvalConfig, run_eval
from envs.errors import DitreeInputError
from envs.problem import load_scenarios
from envs.suites import SUITES

PROTOCOLS = {
    "paper": {"trials": 20, "time_limit": 120.0},
    "quick": {"trials": 3, "time_limit": 30.0},
}
OVERHEAD_S = 1.0  # per-run overhead (docs/benchmarks.md, 'Evaluation overhead')


def worst_case_seconds(n_scenarios: int, n_planners: int, trials: int, time_limit: float, workers: int,
                       overhead_s: float = OVERHEAD_S) -> float:
    """Wall-clock seconds if every run times out: S * P * N * (T + o) / W."""
    return n_scenarios * n_planners * trials * (time_limit + overhead_s) / max(workers, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--protocol", choices=sorted(PROTOCOLS), required=True)
    ap.add_argument("--robot", default="car",
                    help="registered robot (default: car; the racecar uses the maps at 2 m per cell)")
    ap.add_argument("--robot-module", action="append", default=[], metavar="MODULE",
                    help="import MODULE first (one that registers your own robot; repeatable)")
    ap.add_argument("--planners", default="ditree,sst,rrt,dp", help="comma-separated registry names")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default runs/ood_<protocol>)")
    ap.add_argument("--workers", type=int, default=0, help="runs at once (default: one per CPU core)")
    ap.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    ap.add_argument("--suite", choices=list(SUITES), default=None, help="benchmark suite (default ditree_car)")
    ap.add_argument("--split", default=None, help="scenario file of the suite (default: test, the 15 test scenarios)")
    ap.add_argument("--data-dir", type=Path, default=None, help="benchmark data directory (default: $DITREE_DATA, "
                    "else shared/benchmarks beside the repository)")
    ap.add_argument("--scenarios", type=Path, default=None, help="your own scenario CSV instead of a suite")
    ap.add_argument("--maps", type=Path, default=None, help="map folder of --scenarios (default: <csv folder>/maps)")
    ap.add_argument("--backend", choices=("local", "ray"), default="local")
    ap.add_argument("--address", default=None, help="Ray cluster address")
    ap.add_argument("--dry-run", action="store_true", help="print the runs and the worst-case time, run nothing")
    args = ap.parse_args(argv)

    proto = PROTOCOLS[args.protocol]
    try:
        import_robot_modules(args.robot_module)
        cfg = EvalConfig(
            scenarios_csv=args.scenarios, out=args.out or Path("runs") / f"ood_{args.protocol}",
            planners=tuple(args.planners.split(",")), maps_dir=args.maps, trials=proto["trials"],
            time_limit=proto["time_limit"], workers=args.workers, seed=args.seed, backend=args.backend,
            address=args.address, robot=args.robot, suite=args.suite, split=args.split, data_dir=args.data_dir,
        )
        n_scen = len(load_scenarios(cfg.scenarios_csv))
        workers = cfg.workers or (os.cpu_count() or 1)
        n_runs = n_scen * len(cfg.planners) * cfg.trials
        worst = worst_case_seconds(n_scen, len(cfg.planners), cfg.trials, cfg.time_limit, workers)
        print(f"protocol {args.protocol}, robot {cfg.robot}: {n_scen} scenarios x {len(cfg.planners)} planners x {cfg.trials} trials "
              f"= {n_runs} runs of at most {cfg.time_limit:g} s on {workers} workers; worst case "
              f"{worst:,.0f} s ({worst / 3600:.1f} h) if every run times out")
        if args.dry_run:
            return 0
        print_report(run_eval(cfg))
    except DitreeInputError as e:
        print(f"evaluate_ood: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
