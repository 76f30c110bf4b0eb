"""``ditree demo``: plan an out-of-distribution generated world and draw it three ways.

Generates a seeded world (``envs.generators``; default a 15 x 15 maze, a map the policy never saw
in training, made on the spot: no benchmark data needed) with a start and a goal far apart, plans
it with the ``ditree`` planner and its shipped checkpoint (falling back to ``rrt``, with a note,
while ``ditree`` is not registered or cannot run, e.g. without its checkpoint) and writes into
``demo_out/``: ``plan.png`` (map, tree, path, car footprints), ``drive.gif`` (the tree growing, then
the car driving the path), ``scene.png`` (a PyBullet TinyRenderer view of the world and the car),
``plan.json`` (the PlanResult with its tree; ``ditree plot demo_out/plan.json`` redraws it) and the
world's map CSV. ``--scenario NAME`` plans a test scenario of the ``ditree_car`` suite instead
(read from the benchmark data directory).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

NAME = "demo"
HELP = "plan an out-of-distribution generated world and write pictures and a GIF into demo_out/"


@dataclass(frozen=True)
class DemoWorld:
    """The default demo world: ``envs.generators.generated_problem(kind, seed, rows, cols)``."""

    kind: str = "maze"
    seed: int = 1
    rows: int = 15
    cols: int = 15


DEMO_WORLD = DemoWorld()

PREFERRED_PLANNER = "ditree"
FALLBACK_PLANNER = "rrt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ditree.commands._suites import add_data_dir
    from envs.generators import GENERATORS

    w = DEMO_WORLD
    p.add_argument("--kind", choices=list(GENERATORS), default=w.kind, help=f"kind of generated world (default: {w.kind})")
    p.add_argument("--world-seed", type=int, default=w.seed,
                   help=f"seed of the world and its start and goal (default {w.seed})")
    p.add_argument("--rows", type=int, default=w.rows, help=f"world rows in cells (default {w.rows})")
    p.add_argument("--cols", type=int, default=w.cols, help=f"world columns in cells (default {w.cols})")
    p.add_argument("--scenario", default=None,
                   help="plan this test scenario of the ditree_car suite instead (needs the benchmark data)")
    add_data_dir(p)
    p.add_argument("--planner", default=None,
                   help=f"registry name (default: {PREFERRED_PLANNER}, or {FALLBACK_PLANNER} if it is not registered)")
    p.add_argument("--time-limit", type=float, default=60.0, help="planning time limit in seconds (default 60)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--fps", type=int, default=15, help="GIF frames per second (default 15)")


def choose_planner(requested: str | None) -> tuple[str, str | None]:
    """The planner to use and a note to print when falling back."""
    from ditree.api import available_planners

    if requested:
        return requested, None
    if PREFERRED_PLANNER in available_planners():
        return PREFERRED_PLANNER, None
    return FALLBACK_PLANNER, (f"note: planner {PREFERRED_PLANNER!r} is not registered yet; "
                              f"using {FALLBACK_PLANNER!r} (random controls) instead")


def run(args: argparse.Namespace) -> int:
    import time

    from ditree.animate import animate_plan
    from ditree.api import plan
    from ditree.render import render_scene
    from ditree.viz import plot_plan
    from envs.errors import DitreeInputError
    from envs.generators import generated_problem
    from envs.problem import test_problem

    out = Path(args.out)
    if args.scenario:
        problem = test_problem(args.scenario, data_dir=args.data_dir)
    else:
        problem = generated_problem(args.kind, args.world_seed, args.rows, args.cols)
    planner, note = choose_planner(args.planner)
    if note:
        print(note)
    print(f"planning {problem.name!r} (map {problem.world.name}, {problem.world.shape[0]}x{problem.world.shape[1]}) "
          f"with {planner!r}, time limit {args.time_limit:g} s, seed {args.seed} ...")
    try:
        result = plan(problem, planner=planner, time_limit=args.time_limit, seed=args.seed)
    except (DitreeInputError, FileNotFoundError) as e:
        if args.planner:  # asked for by name: report, do not substitute
            raise
        print(f"note: planner {planner!r} is not usable here ({e}); using {FALLBACK_PLANNER!r} (random controls) instead")
        planner = FALLBACK_PLANNER
        result = plan(problem, planner=planner, time_limit=args.time_limit, seed=args.seed)
    print(result.summary())

    t0 = time.perf_counter()
    files = [
        _save_json(result, out / "plan.json"),
        *([] if args.scenario else [_save_map(problem.world, out / f"{problem.world.name}.csv")]),
        plot_plan(problem, result, out / "plan.png"),
        animate_plan(problem, result, out / "drive.gif", fps=args.fps),
        render_scene(problem, result, out / "scene.png"),
    ]
    print(f"wrote {', '.join(str(f) for f in files)} ({time.perf_counter() - t0:.1f} s)")
    return 0 if result.success else 1


def _save_map(world, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    world.to_csv(path)
    return path


def _save_json(result, path: Path) -> Path:
    result.to_json(path, include_tree=True)
    return path
