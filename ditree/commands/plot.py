"""``ditree plot``: redraw a saved plan (a PlanResult JSON) as a PNG or as a GIF of the car driving.

The problem is rebuilt from the names in the JSON: its scenario is looked up in ``--scenarios``
(default: the shipped test and validation scenario files) and its map in ``--maps`` (default: the
shipped benchmark maps). A result whose scenario is unknown is drawn on its map with the path's
first state as the start and its last position as the goal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "plot"
HELP = "redraw a saved plan result (JSON) as a PNG (map, tree, path, footprints) or a GIF (the car driving)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from envs.problem import MAPS_DIR

    p.add_argument("result", type=Path, help="a PlanResult JSON (ditree plan --json, ditree eval results/)")
    p.add_argument("--out", type=Path, default=None,
                   help="output .png or .gif (default: the JSON's path with .png)")
    p.add_argument("--maps", type=Path, default=MAPS_DIR, help="folder of map CSVs (default: the shipped maps)")
    p.add_argument("--scenarios", type=Path, default=None,
                   help="scenario CSV to look the scenario up in (default: the shipped test and validation files)")
    p.add_argument("--fps", type=int, default=15, help="GIF frames per second (default 15)")
    p.add_argument("--no-tree", action="store_true", help="do not draw (or grow) the tree")


def problem_for_result(result, maps_dir: Path, scenarios_csv: Path | None = None):
    """The :class:`~envs.problem.Problem` a saved result was planned on (see the module docstring)."""
    from envs.car import Car
    from envs.errors import DitreeInputError, ScenarioError
    from envs.problem import TEST_SCENARIOS, VALIDATION_SCENARIOS, Problem, load_scenarios, problem_from_scenario
    from envs.world import GridMap

    if not result.map:
        raise DitreeInputError("the result names no map: cannot redraw it")
    files = [scenarios_csv] if scenarios_csv is not None else [TEST_SCENARIOS, VALIDATION_SCENARIOS]
    if result.scenario:
        for f in files:
            for s in load_scenarios(f):
                if s.name == result.scenario and s.map_name == result.map:
                    return problem_from_scenario(s, maps_dir)
    map_file = Path(maps_dir) / f"{result.map}.csv"
    if not map_file.is_file():
        raise DitreeInputError(f"map {result.map!r} of the result not found: {map_file} (use --maps)")
    if not len(result.states):
        raise DitreeInputError(f"scenario {result.scenario!r} not found in {[str(f) for f in files]} and the "
                               "result has no states to take the start from")
    world = GridMap.from_csv(map_file)
    try:
        return Problem(Car(), world, result.states[0], result.states[-1, :2], name=result.scenario or result.map)
    except (ValueError, ScenarioError) as e:
        raise DitreeInputError(f"cannot rebuild the problem of the result: {e}") from None


def run(args: argparse.Namespace) -> int:
    from ditree.animate import animate_plan
    from ditree.viz import plot_plan
    from envs.errors import DitreeInputError
    from planners.results import PlanResult

    out = args.out or Path(args.result).with_suffix(".png")
    suffix = Path(out).suffix.lower()
    if suffix not in (".png", ".gif"):
        raise DitreeInputError(f"--out {out}: the output must end in .png or .gif")
    result = PlanResult.from_json(Path(args.result))
    problem = problem_for_result(result, args.maps, args.scenarios)
    if result.goal is not None:  # the goal it was planned for (e.g. a goal state instead of the scenario's disc)
        from envs.goal import goal_from_dict

        problem = problem.with_goal(goal_from_dict(result.goal, str(args.result)))
    if args.no_tree:
        result.tree_edges = None
    if suffix == ".gif":
        path = animate_plan(problem, result, out, fps=args.fps, show_tree=not args.no_tree)
    else:
        path = plot_plan(problem, result, out)
    print(f"wrote {path}")
    return 0
