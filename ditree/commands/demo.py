"""``ditree demo``: an out-of-distribution scenario drawn (and, once planners exist, planned)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "draw a benchmark scenario (the test scenario 'boxes') into demo_out/"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", default="boxes", help="test scenario name (default: boxes)")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")


def run(args: argparse.Namespace) -> int:
    from ditree.viz import plot_problem
    from envs.problem import TEST_SCENARIOS, load_problem

    problem = load_problem(TEST_SCENARIOS, args.scenario)
    out = plot_problem(problem, Path(args.out) / "scene_map.png", title=f"{problem.name}: start and goal")
    print(f"wrote {out}")
    return 0
