"""``ditree world``: generate a seeded grid world, write it as a map CSV and draw it; or a box world.

    ditree world --kind maze --seed 3 --out my.csv [--rows 15 --cols 15 --corridor 1]
    ditree world --kind forest --seed 0 --out forest.csv --density 0.2
    ditree world --kind rooms --seed 1 --out rooms.csv --rows 21 --cols 31 --room 4 --door 1
    ditree world --kind serpentine --seed 2 --out snake.csv --corridor 2

Writes ``my.csv`` (0 = free, 1 = wall, row 0 at the top) and ``my.png`` (the map with a start and a
goal far apart, picked from the same seed), and prints the ``ditree plan`` command for that query.
Same arguments, same world (``envs.generators``).

The box world kinds (``envs.box_generators``: trap, kink, corridor, clutter, parked, open) are made
at a robot's scale, with a start and a full goal state::

    ditree world --kind trap --robot unicycle1_v0 --seed 3 --out trap.png
    ditree world --kind kink --robot car1_v0 --seed 0 --out kink.yaml --param corridor=0.8 --param bends=3

``.png`` draws the problem; ``.yaml`` writes it as a dynobench instance file (and its picture next
to it) and prints the ``ditree plan --dynobench`` command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "world"
HELP = "generate a seeded grid world (map CSV and picture) or box world at a robot's scale (instance YAML, picture)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from envs.box_generators import BOX_KINDS
    from envs.generators import GENERATORS

    p.add_argument("--kind", choices=[*GENERATORS, *BOX_KINDS], default="maze",
                   help=f"kind of world (default: maze); box worlds: {', '.join(BOX_KINDS)}")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", type=Path, required=True,
                   help="map CSV to write, the picture goes to the same name .png; box worlds: a .png picture or a "
                        ".yaml dynobench instance (and its .png)")
    p.add_argument("--robot", default=None, help="box worlds: registered robot whose scale they are made at "
                                                 "(default: unicycle1_v0; see `ditree robots`)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="box worlds: a shape parameter of the kind (envs.box_generators.BOX_PARAMS), repeatable")
    p.add_argument("--rows", type=int, default=15, help="grid rows, cells (default 15)")
    p.add_argument("--cols", type=int, default=15, help="grid columns, cells (default 15)")
    g = p.add_argument_group("shape (each kind takes some; the defaults are the generators')")
    g.add_argument("--corridor", type=int, default=None, help="maze, serpentine: corridor width in cells (default 1)")
    g.add_argument("--loop-fraction", type=float, default=None,
                   help="maze: fraction of inner walls knocked out to make loops (default 0.1)")
    g.add_argument("--density", type=float, default=None, help="forest: tree probability per cell (default 0.15)")
    g.add_argument("--room", type=int, default=None, help="rooms: smallest room side in cells (default 4)")
    g.add_argument("--door", type=int, default=None, help="rooms: door width in cells (default 1)")


def shape_params(args: argparse.Namespace) -> dict:
    """The shape options given on the command line, checked against ``--kind``."""
    from envs.errors import DitreeInputError
    from envs.generators import SHAPE_PARAMS

    given = {k: getattr(args, k) for k in ("corridor", "loop_fraction", "density", "room", "door")
             if getattr(args, k) is not None}
    bad = sorted(set(given) - set(SHAPE_PARAMS[args.kind]))
    if bad:
        opts = ", ".join("--" + b.replace("_", "-") for b in bad)
        takes = ", ".join("--" + t.replace("_", "-") for t in SHAPE_PARAMS[args.kind])
        raise DitreeInputError(f"--kind {args.kind} takes no {opts} (it takes {takes})")
    return given


def box_params(args: argparse.Namespace) -> dict:
    """``--param NAME=VALUE`` options -> ``{name: value}`` (numbers where they parse)."""
    from envs.errors import DitreeInputError

    out: dict = {}
    for item in args.param:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise DitreeInputError(f"--param {item!r}: expected NAME=VALUE, e.g. corridor=0.8")
        v: object = value.strip()
        for conv in (int, float):
            try:
                v = conv(value)
                break
            except ValueError:
                pass
        out[name.strip()] = v
    return out


def instance_yaml(problem) -> dict:
    """A box-world problem as a dynobench instance mapping (``envs.dynobench.load_instance`` reads it)."""
    w = problem.world
    obstacles = [{"type": "box", "center": [float(cx), float(cy)], "size": [float(sx), float(sy)]}
                 for cx, cy, sx, sy in w.boxes]
    obstacles += [{"type": "sphere", "center": [float(cx), float(cy)], "size": [float(r)]} for cx, cy, r in w.circles]
    return {"name": problem.name,
            "environment": {"min": list(w.bounds[:2]), "max": list(w.bounds[2:]), "obstacles": obstacles},
            "robots": [{"type": problem.robot.name, "start": [float(v) for v in problem.start],
                        "goal": [float(v) for v in problem.goal_region.state]}]}


def run_box(args: argparse.Namespace) -> int:
    """A box world kind: draw it (``.png``) or write it as a dynobench instance (``.yaml``, and the picture)."""
    import yaml

    from ditree.viz import plot_problem
    from envs.box_generators import box_problem
    from envs.errors import DitreeInputError
    from envs.registry import robot_spec

    grid_opts = [o for o in ("corridor", "loop_fraction", "density", "room", "door") if getattr(args, o) is not None]
    if grid_opts:
        opts = ", ".join("--" + o.replace("_", "-") for o in grid_opts)
        raise DitreeInputError(f"--kind {args.kind} takes no {opts}; box worlds take --param NAME=VALUE")
    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".yaml"):
        raise DitreeInputError(f"--out {args.out}: a box world is written as .png (picture) or .yaml (instance)")
    robot = robot_spec(args.robot or "unicycle1_v0").make()
    problem = box_problem(args.kind, args.seed, robot, **box_params(args))
    w, rec = problem.world, problem.meta["generator"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".yaml":
        args.out.write_text(yaml.safe_dump(instance_yaml(problem), sort_keys=False, default_flow_style=None))
    png = plot_problem(problem, args.out.with_suffix(".png"), title=f"{problem.name} ({robot.name})")
    print(f"wrote {args.out if suffix == '.yaml' else png} ({w.width_m:.2f} x {w.height_m:.2f} m, {len(w.boxes)} boxes, "
          f"{len(w.circles)} circles; drawn {rec['drawn']})")
    if suffix == ".yaml":
        print(f"plan it: ditree plan --dynobench {args.out} --goal-tol {problem.goal_region.tolerance:g} --planner sst")
    return 0


def run(args: argparse.Namespace) -> int:
    from ditree.viz import plot_problem
    from envs.box_generators import BOX_KINDS
    from envs.errors import DitreeInputError
    from envs.generators import generated_problem

    if args.kind in BOX_KINDS:
        return run_box(args)
    if args.robot is not None or args.param:
        raise DitreeInputError(f"--kind {args.kind}: --robot and --param are for box worlds only")
    if args.out.suffix.lower() != ".csv":
        raise DitreeInputError(f"--out {args.out}: the map file must end in .csv")
    problem = generated_problem(args.kind, args.seed, args.rows, args.cols, **shape_params(args))
    world = problem.world
    args.out.parent.mkdir(parents=True, exist_ok=True)
    world.to_csv(args.out)
    (r, c), (gr, gc) = problem.start_cell, problem.goal_cell
    deg = problem.meta["start_deg"]
    png = plot_problem(problem, args.out.with_suffix(".png"),
                       title=f"{world.name}: start ({r}, {c}) at {deg:g} deg, goal ({gr}, {gc})")
    print(f"wrote {args.out} ({world.shape[0]}x{world.shape[1]} cells, {100 * world.grid.mean():.0f}% wall) and {png}")
    print(f"plan it: ditree plan --map {args.out} --start {r},{c},{deg:g} --goal {gr},{gc} --planner ditree")
    return 0
