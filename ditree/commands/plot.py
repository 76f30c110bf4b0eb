"""``ditree plot``: redraw a saved plan (a PlanResult JSON) as a PNG or as a GIF of the car driving.

The problem is rebuilt from the JSON. A result planned in a box world (``envs.box_world``) carries
the world itself (its ``world`` field): the problem is that world, the result's robot, the path's
first state and the recorded goal. Otherwise its map: ``--map PATH`` if given; else map
``<map>`` of ``--maps`` (a folder); else of the result's benchmark suite (its ``suite`` field, or
``--suite``; read from the data directory, see ``envs.suites``); else ``<map>.csv`` next to the
JSON (``ditree demo`` writes its generated world there); else, for results written before suites
were recorded, of the ``ditree_car`` suite. Its scenario is looked up in ``--scenarios`` or the
suite's scenario files; a result whose scenario is unknown is drawn on its map with the path's
first state as the start and its last position as the goal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "plot"
HELP = "redraw a saved plan result (JSON) as a PNG (map, tree, path, footprints) or a GIF (the car driving)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.commands._suites import add_data_dir, suite_names

    p.add_argument("result", type=Path, help="a PlanResult JSON (ditree plan --json, ditree eval results/)")
    p.add_argument("--out", type=Path, default=None,
                   help="output .png or .gif (default: the JSON's path with .png)")
    p.add_argument("--map", type=Path, default=None, help="the map CSV the result was planned on")
    p.add_argument("--maps", type=Path, default=None, help="folder of map CSVs to find the result's map in")
    p.add_argument("--suite", choices=suite_names(), default=None,
                   help="benchmark suite of the result's scenario and map (default: the one the result names)")
    add_data_dir(p)
    p.add_argument("--scenarios", type=Path, default=None,
                   help="scenario CSV to look the scenario up in (default: the suite's scenario files)")
    p.add_argument("--fps", type=int, default=15, help="GIF frames per second (default 15)")
    p.add_argument("--no-tree", action="store_true", help="do not draw (or grow) the tree")


def _find_map(result, map_path, maps_dir, suite, data_dir, near) -> tuple[Path, str | None]:
    """The map CSV of ``result`` and the suite it belongs to (None if not from a suite)."""
    from envs.errors import DitreeInputError
    from envs.suites import has_suite, suite_map

    if map_path is not None:
        return Path(map_path), None
    if maps_dir is not None:
        f = Path(maps_dir) / f"{result.map}.csv"
        if not f.is_file():
            raise DitreeInputError(f"map {result.map!r} of the result not found: {f}")
        return f, None
    if suite is not None:
        return suite_map(suite, result.map, data_dir), suite
    if near is not None and (Path(near).parent / f"{result.map}.csv").is_file():
        return Path(near).parent / f"{result.map}.csv", None
    if has_suite("ditree_car", data_dir):  # results from before suites were recorded
        try:
            return suite_map("ditree_car", result.map, data_dir), "ditree_car"
        except DitreeInputError:
            pass
    raise DitreeInputError(f"map {result.map!r} of the result not found (use --map PATH, --maps DIR or --suite)")


def problem_for_result(result, maps_dir: Path | None = None, scenarios_csv: Path | None = None, *,
                       map_path: Path | None = None, suite: str | None = None, data_dir: Path | None = None,
                       near: Path | None = None):
    """The :class:`~envs.problem.Problem` a saved result was planned on (see the module docstring).
    ``near``: the result's JSON file, next to which its map may lie."""
    from envs.car import Car
    from envs.errors import DitreeInputError, ScenarioError
    from envs.problem import Problem, load_scenarios, problem_from_scenario, suite_scenario_list
    from envs.world import GridMap

    if result.world is not None:
        return _box_world_problem(result, near)
    if not result.map:
        raise DitreeInputError("the result names no map: cannot redraw it")
    map_file, suite = _find_map(result, map_path, maps_dir, suite or result.suite, data_dir, near)
    if scenarios_csv is not None:
        scenarios, where = load_scenarios(scenarios_csv), str(scenarios_csv)
    elif suite is not None:
        scenarios, where = suite_scenario_list(suite, data_dir=data_dir), f"suite {suite}"
    else:
        scenarios, where = [], "no scenario file"
    if result.scenario:
        for s in scenarios:
            if s.name == result.scenario and s.map_name == result.map:
                return problem_from_scenario(s, map_file.parent)
    if not len(result.states):
        raise DitreeInputError(f"scenario {result.scenario!r} not found in {where} and the "
                               "result has no states to take the start from")
    world = GridMap.from_csv(map_file)
    try:
        return Problem(Car(), world, result.states[0], result.states[-1, :2], name=result.scenario or result.map)
    except (ValueError, ScenarioError) as e:
        raise DitreeInputError(f"cannot rebuild the problem of the result: {e}") from None


def _box_world_problem(result, near: Path | None):
    """The problem of a result that carries its box world (see the module docstring)."""
    import numpy as np

    from envs.box_world import BoxWorld
    from envs.errors import DitreeInputError, ScenarioError
    from envs.goal import goal_from_dict
    from envs.problem import Problem
    from envs.registry import make_robot

    where = str(near) if near is not None else "result"
    if not isinstance(result.world, dict) or result.world.get("kind") != "boxworld":
        raise DitreeInputError(f"{where}: field 'world' is not a box world ({{'kind': 'boxworld', ...}})")
    world = BoxWorld.from_dict(result.world, where)
    if not len(result.states):
        raise DitreeInputError(f"{where}: the result has no states to take the start from")
    robot = make_robot(result.robot)
    goal = goal_from_dict(result.goal, where) if result.goal is not None else np.asarray(result.states[-1, :2])
    try:
        return Problem(robot, world, result.states[0], goal, name=result.scenario or world.name,
                       meta={"map": world.name})
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
    problem = problem_for_result(result, args.maps, args.scenarios, map_path=args.map, suite=args.suite,
                                 data_dir=args.data_dir, near=Path(args.result))
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
