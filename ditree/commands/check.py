"""``ditree check``: check a solution with an independent re-implementation of dynobench's acceptance
tests (``envs.dynobench_check``), plus a collision check between the stored states.

    ditree check solution.yaml --dynobench instance.yaml [--goal-tol 0.01] [--substeps 9] [--json] [--strict]

Prints one line per test (value, threshold, where it fails). Exit status: 0 when dynobench's tests
all pass (with ``--strict``, the between-state check too), 1 when one fails, 2 on bad input (a
one-line error naming the file and the field).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "check"
HELP = "check a dynobench solution file against its instance (dynobench's thresholds + a between-state check)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("solution", type=Path, help="solution YAML (dynobench's format: states, actions, ...)")
    p.add_argument("--dynobench", type=Path, required=True, metavar="INSTANCE",
                   help="the dynobench instance YAML the solution solves")
    p.add_argument("--goal-tol", type=float, default=0.03,
                   help="goal tolerance in the robot's weighted distance (default 0.03, dynobench's; the "
                        "published iDb-A* runs used 0.01)")
    p.add_argument("--substeps", type=int, default=9,
                   help="sub-states checked between consecutive stored states (>= 4; default 9)")
    p.add_argument("--strict", action="store_true", help="also reject when the between-state check fails")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from envs.dynobench_check import check_files
    from envs.errors import DitreeInputError

    if not args.goal_tol > 0:
        raise DitreeInputError(f"--goal-tol must be positive, got {args.goal_tol}")
    if args.substeps < 4:
        raise DitreeInputError(f"--substeps must be at least 4, got {args.substeps}")
    report = check_files(args.solution, args.dynobench, goal_tol=args.goal_tol, substeps=args.substeps)
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    ok = report.accepted and (report.between_ok or not args.strict)
    return 0 if ok else 1
