"""``ditree plan``: solve one problem with a registered planner and print the one-line summary.

Either a map and cells::

    ditree plan --map maps/boxes.csv --start 17,2,45 --goal 2,17 --planner rrt --time-limit 30 --seed 0

or a scenario of a benchmark suite, by name (the suite is read from the data directory:
``--data-dir``, ``$DITREE_DATA`` or ``shared/benchmarks`` beside the repository)::

    ditree plan --suite ditree_car --scenario boxes --json out.json --plot out.png

or a row of your own scenario file (maps default to the csv's sibling ``maps/``)::

    ditree plan --scenarios my_scenarios.csv --scenario s1 --maps my_maps/

``--suite S --map NAME`` takes map NAME of suite S (e.g. ``--suite ditree_car --map boxes``).

The goal is a disc (``--goal`` cell, radius 0.5 m, or the scenario's goal cell) unless
``--goal-state`` gives a full goal state (m, rad; ``X,Y,YAW`` = the robot at rest at that pose) and
``--goal-tol`` its tolerance in the robot's own metric (``envs.goal``; the car's is
|dp| + 0.5 |dyaw| + 0.25 |dv|)::

    ditree plan --suite ditree_car --scenario val_maze_small \
        --goal-state 0.5,-2.5,1.57 --goal-tol 1.0

Exit status 0 whether or not a path was found; 2 with a one-line message for bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from envs.errors import DitreeInputError

NAME = "plan"
DEFAULT_GOAL_TOL = 0.5
"""Default ``--goal-tol`` (robot metric; 0.5 m of position error alone for the car)."""
HELP = "plan one problem (map + cells, or a scenario row) with a registered planner"


def _ints(text: str, n: int, what: str, float_last: bool = False) -> list:
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != n:
        raise DitreeInputError(f"{what} {text!r}: expected {n} comma-separated numbers")
    try:
        vals: list = [int(t) for t in parts[: n - 1 if float_last else n]]
        if float_last:
            vals.append(float(parts[-1]))
    except ValueError:
        raise DitreeInputError(f"{what} {text!r}: expected integers{' and a heading in degrees' if float_last else ''}") from None
    return vals


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.commands._suites import add_data_dir, suite_names

    src = p.add_argument_group("problem (--map/--start/--goal, --suite/--scenario or --scenarios/--scenario)")
    src.add_argument("--map", help="map CSV (0 = free, 1 = wall), or with --suite the name of one of its maps")
    src.add_argument("--start", help="start ROW,COL,DEG (heading in degrees, 0 = +x, 90 = +y)")
    src.add_argument("--goal", help="goal ROW,COL")
    src.add_argument("--goal-state", metavar="X,Y,YAW[,...]",
                     help="goal state instead of a goal disc, in state units (m, rad; map frame, origin at the map "
                          "centre): X,Y,YAW (the robot at rest there) or all of the robot's state components")
    src.add_argument("--goal-tol", type=float, metavar="TOL",
                     help=f"tolerance of --goal-state in the robot's metric (default: {DEFAULT_GOAL_TOL:g}; for a "
                          "dynobench instance 0.03, the benchmark's acceptance)")
    src.add_argument("--dynobench", metavar="INSTANCE.yaml",
                     help="a dynobench instance file (robot, box world, start and goal state); a suite's instance: "
                          "--suite dynobench --scenario ROBOT/INSTANCE")
    src.add_argument("--suite", choices=suite_names(),
                     help="benchmark suite of --scenario (the default without --scenarios: ditree_car) or of --map")
    src.add_argument("--scenario", help="scenario name (in --suite, or in --scenarios)")
    src.add_argument("--scenarios", help="your own scenario CSV")
    src.add_argument("--maps", help="maps folder for --scenarios (default: <csv folder>/maps)")
    add_data_dir(src)
    p.add_argument("--robot", default=None,
                   help="registered robot (default: car; see `ditree robots`); maps are used at its cell size "
                        "(the racecar's: 2 m). A dynobench instance names its own robot")
    p.add_argument("--planner", default="rrt", help="registered planner name (default: rrt)")
    p.add_argument("--time-limit", type=float, default=30.0, help="seconds (default: 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="policy checkpoint (NAME.pt) for learned planners (ditree, ditree-star, dp); "
                        "default: the shipped one")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="planner parameter, repeatable (e.g. --param batch_size=128)")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON (with the tree edges)")
    p.add_argument("--plot", metavar="OUT.png", help="draw map, tree, path and car footprints")
    p.add_argument("--solution", metavar="OUT.yaml",
                   help="write the path as a dynobench solution file (states, actions, cost, feasibility)")


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(t.strip()) for t in text.split(",")]
    except ValueError:
        raise DitreeInputError(f"{what} {text!r}: expected comma-separated numbers") from None


def cli_goal_state(args: argparse.Namespace, robot):
    """The :class:`~envs.goal.StateGoal` of ``--goal-state`` / ``--goal-tol``, or None without them."""
    from envs.goal import StateGoal

    text, tol = getattr(args, "goal_state", None), getattr(args, "goal_tol", None)
    if text is None:
        if tol is not None:
            raise DitreeInputError("--goal-tol needs --goal-state")
        return None
    vals = _floats(text, "--goal-state")
    n = robot.state_dim
    if len(vals) == 3:
        state = robot.rest_state(*vals)
    elif len(vals) == n:
        state = vals
    else:
        raise DitreeInputError(
            f"--goal-state {text!r}: expected 3 numbers (x, y, yaw: the {robot.name} at rest) or {n} "
            f"({', '.join(robot.state_names)}), got {len(vals)}"
        )
    tol = DEFAULT_GOAL_TOL if tol is None else tol
    if not tol > 0:
        raise DitreeInputError(f"--goal-tol must be positive, got {tol:g}")
    try:
        return StateGoal.for_robot(robot, state, tol)
    except ValueError as e:
        raise DitreeInputError(f"--goal-state {text!r}: {e}") from None


def load_cli_problem(args: argparse.Namespace):
    """The :class:`~envs.problem.Problem` named by the CLI arguments."""
    from ditree.commands._suites import map_path
    from envs.problem import Problem, load_problem, suite_problem
    from envs.registry import robot_spec
    from envs.world import GridMap

    suite, data_dir = getattr(args, "suite", None), getattr(args, "data_dir", None)
    if getattr(args, "dynobench", None) or suite == "dynobench":
        return _dynobench_problem(args, suite, data_dir)
    spec = robot_spec(getattr(args, "robot", None) or "car")  # an unregistered name: one line listing them
    robot = spec.make()
    goal_state = cli_goal_state(args, robot)
    if goal_state is not None and args.goal:
        raise DitreeInputError("give either --goal or --goal-state, not both")

    if args.scenarios or args.scenario:
        if args.map or args.start or args.goal:
            raise DitreeInputError("give either --scenario (with --suite or --scenarios) or --map/--start/--goal, "
                                   "not both")
        if not args.scenario:
            raise DitreeInputError("--scenarios needs --scenario NAME")
        if args.scenarios:
            if suite:
                raise DitreeInputError("give either --suite or --scenarios, not both")
            problem = load_problem(args.scenarios, args.scenario, args.maps, robot=robot)
        else:
            if args.maps:
                raise DitreeInputError("--maps goes with --scenarios (a suite has its own maps)")
            problem = suite_problem(args.scenario, suite or "ditree_car", data_dir=data_dir, robot=robot)
        return problem if goal_state is None else problem.with_goal(goal_state)
    if not (args.map and args.start and (args.goal or goal_state is not None)):
        raise DitreeInputError("need --map, --start and --goal or --goal-state (or --suite/--scenarios and --scenario)")
    world = GridMap.from_csv(map_path(args.map, suite, data_dir), cell_size=spec.map_cell_size)
    r, c, deg = _ints(args.start, 3, "--start", float_last=True)
    # with a state goal, the start cell stands in for the goal cell until with_goal replaces the goal
    goal_cell = (r, c) if goal_state is not None else tuple(_ints(args.goal, 2, "--goal"))
    problem = Problem.from_cells(world, (r, c), deg, goal_cell, robot=robot, goal_radius=spec.goal_tolerance,
                                 name=Path(args.map).stem)
    if suite:
        problem.meta["suite"] = suite
    return problem if goal_state is None else problem.with_goal(goal_state)


def _dynobench_problem(args: argparse.Namespace, suite: str | None, data_dir):
    """A dynobench instance: ``--dynobench FILE`` or ``--suite dynobench --scenario ROBOT/INSTANCE``.
    The instance names the robot and the goal state; ``--goal-tol`` (default 0.03, the benchmark's
    acceptance) is the goal's tolerance in the robot's metric."""
    from envs.dynobench import ACCEPT_GOAL_TOL
    from envs.problem import Problem, suite_problem

    clash = [flag for flag, v in (("--map", args.map), ("--start", args.start), ("--goal", args.goal),
                                  ("--goal-state", args.goal_state), ("--scenarios", args.scenarios),
                                  ("--robot", getattr(args, "robot", None))) if v]
    if clash:
        raise DitreeInputError(f"a dynobench instance gives the robot, start and goal: drop {', '.join(clash)}")
    tol = ACCEPT_GOAL_TOL if args.goal_tol is None else args.goal_tol
    if not tol > 0:
        raise DitreeInputError(f"--goal-tol must be positive, got {tol:g}")
    if args.dynobench:
        if suite or args.scenario:
            raise DitreeInputError("give either --dynobench FILE or --suite dynobench --scenario ROBOT/INSTANCE")
        return Problem.from_dynobench(args.dynobench, goal_tol=tol)
    if not args.scenario:
        raise DitreeInputError("--suite dynobench needs --scenario ROBOT/INSTANCE (e.g. car1_v0/bugtrap_0)")
    return suite_problem(args.scenario, "dynobench", data_dir=data_dir, goal_tol=tol)


def run(args: argparse.Namespace) -> int:
    from ditree.api import plan
    from ditree.registry import parse_params, planner_entry

    if not args.time_limit > 0:
        raise DitreeInputError(f"--time-limit must be positive, got {args.time_limit}")
    planner_entry(args.planner)  # fail fast on an unknown name
    params = parse_params(args.planner, args.param)
    if args.checkpoint:
        if "checkpoint" not in planner_entry(args.planner).param_fields():
            raise DitreeInputError(f"--checkpoint: planner {args.planner!r} uses no policy checkpoint")
        params["checkpoint"] = args.checkpoint
    problem = load_cli_problem(args)
    result = plan(problem, planner=args.planner, time_limit=args.time_limit, seed=args.seed, **params)
    result.extra["state_names"] = list(problem.robot.state_names)
    print(result.summary())
    if args.json:
        result.to_json(args.json, include_tree=True)
    if args.solution:
        if not result.success:
            print(f"no path: nothing written to {args.solution}")
        else:
            result.to_dynobench(args.solution)
            print(f"wrote the dynobench solution {args.solution} (check it: ditree check {args.solution} --dynobench ...)")
    if args.plot:
        _plot(problem, result, args.plot)
    return 0


def _plot(problem, result, out: str) -> None:
    try:
        from ditree.viz import plot_plan
    except ImportError:  # ditree.viz without plot_plan: draw with its committed pieces
        import matplotlib.pyplot as plt

        from ditree.viz import draw_edges, draw_path, draw_problem, save_figure

        fig, ax = plt.subplots(figsize=(6.5, 6.5))
        draw_problem(ax, problem)
        if result.tree_edges:
            draw_edges(ax, result.tree_edges)
        if len(result.states):
            draw_path(ax, result.states, problem.robot, dt=result.dt)
        ax.set_title(result.summary(), fontsize=8)
        save_figure(fig, out)
        return
    plot_plan(problem, result, out)
