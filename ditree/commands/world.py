"""``ditree world``: generate a seeded grid world, write it as a map CSV and draw it.

    ditree world --kind maze --seed 3 --out my.csv [--rows 15 --cols 15 --corridor 1]
    ditree world --kind forest --seed 0 --out forest.csv --density 0.2
    ditree world --kind rooms --seed 1 --out rooms.csv --rows 21 --cols 31 --room 4 --door 1
    ditree world --kind serpentine --seed 2 --out snake.csv --corridor 2

Writes ``my.csv`` (0 = free, 1 = wall, row 0 at the top) and ``my.png`` (the map with a start and a
goal far apart, picked from the same seed), and prints the ``ditree plan`` command for that query.
Same arguments, same world (``envs.generators``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "world"
HELP = "generate a seeded maze, forest, rooms or serpentine world: a map CSV and its picture"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from envs.generators import GENERATORS

    p.add_argument("--kind", choices=list(GENERATORS), default="maze", help="kind of world (default: maze)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="map CSV to write; the picture goes to the same name .png")
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


def run(args: argparse.Namespace) -> int:
    from ditree.viz import plot_problem
    from envs.errors import DitreeInputError
    from envs.generators import generated_problem

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
