"""Seeded generators of grid worlds: mazes, forests, rooms with doors, serpentines.

Every generator takes the grid size ``rows x cols`` (cells), a ``seed`` and its own shape
parameters, and returns a :class:`~envs.world.GridMap` with a wall border whose free space is one
4-connected region (checked: :func:`free_space_connected`). The same arguments give the same grid.
:func:`random_start_goal` picks a start and a goal far apart in a world, :func:`generated_problem`
makes a whole :class:`~envs.problem.Problem` (for demos and training).

Box worlds (continuous obstacles) have no generator yet: there is no box-world class to return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from envs.errors import DitreeInputError
from envs.world import GridMap, random_maze

if TYPE_CHECKING:
    from envs.problem import Problem
    from envs.robot import Robot

_FOUR = ndimage.generate_binary_structure(2, 1)


def free_components(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """4-connected components of the free cells: ``(labels (H, W) int, count)``; walls are 0."""
    labels, n = ndimage.label(np.asarray(grid) == 0, structure=_FOUR)
    return labels, int(n)


def free_space_connected(grid: np.ndarray) -> bool:
    """Whether the free cells of ``grid`` (1 = wall) form exactly one 4-connected region."""
    return free_components(grid)[1] == 1


def _keep_largest_region(grid: np.ndarray) -> np.ndarray:
    """``grid`` with every free region but the largest turned into wall."""
    labels, n = free_components(grid)
    if n <= 1:
        return grid
    sizes = np.bincount(labels.ravel())[1:]
    keep = 1 + int(np.argmax(sizes))
    out = grid.copy()
    out[(labels != keep) & (grid == 0)] = 1
    return out


def _check_size(kind: str, rows: int, cols: int, minimum: int) -> None:
    if int(rows) != rows or int(cols) != cols or rows < minimum or cols < minimum:
        raise DitreeInputError(f"{kind}: rows and cols must be integers >= {minimum}, got {rows} x {cols}")


def _check_int(kind: str, what: str, value, lo: int) -> int:
    if int(value) != value or value < lo:
        raise DitreeInputError(f"{kind}: {what} must be an integer >= {lo}, got {value}")
    return int(value)


def _finish(kind: str, grid: np.ndarray, seed: int, cell_size: float, name: str | None) -> GridMap:
    H, W = grid.shape
    if not free_space_connected(grid):  # a bug in a generator, not bad input
        raise AssertionError(f"{kind} generator (seed {seed}, {H}x{W}) produced a disconnected free space")
    return GridMap(grid, cell_size, name or f"{kind}_{H}x{W}_s{seed}")


# ---------------------------------------------------------------------------------------- mazes
def maze(
    rows: int = 15,
    cols: int = 15,
    seed: int = 0,
    *,
    corridor: int = 1,
    loop_fraction: float = 0.1,
    cell_size: float = 1.0,
    name: str | None = None,
) -> GridMap:
    """A maze with corridors ``corridor`` cells wide and 1-cell walls: a random spanning tree of a
    lattice of rooms (depth-first search) with a fraction ``loop_fraction`` of its inner walls
    knocked out to make loops. With ``corridor=1`` it is :func:`envs.world.random_maze`; sizes that
    do not fit a whole number of corridors are padded with wall at the bottom and right."""
    _check_size("maze", rows, cols, 3)
    w = _check_int("maze", "corridor", corridor, 1)
    n_r, n_c = (rows - 1) // (w + 1), (cols - 1) // (w + 1)
    if n_r < 1 or n_c < 1:
        raise DitreeInputError(f"maze: {rows} x {cols} cells cannot hold a corridor {w} cells wide")
    lattice = random_maze(2 * n_r + 1, 2 * n_c + 1, seed, loop_fraction=loop_fraction).grid
    reps_r = np.where(np.arange(2 * n_r + 1) % 2 == 1, w, 1)
    reps_c = np.where(np.arange(2 * n_c + 1) % 2 == 1, w, 1)
    body = np.repeat(np.repeat(lattice, reps_r, axis=0), reps_c, axis=1)
    grid = np.ones((rows, cols), dtype=np.uint8)
    grid[: body.shape[0], : body.shape[1]] = body
    return _finish("maze", grid, seed, cell_size, name)


# --------------------------------------------------------------------------------------- forests
def forest(
    rows: int = 15,
    cols: int = 15,
    seed: int = 0,
    *,
    density: float = 0.15,
    cell_size: float = 1.0,
    name: str | None = None,
) -> GridMap:
    """An open field with single-cell trees: each inner cell is a tree with probability ``density``
    (in [0, 0.6]); free pockets cut off from the largest free region are filled in."""
    _check_size("forest", rows, cols, 3)
    if not 0.0 <= density <= 0.6:
        raise DitreeInputError(f"forest: density must lie in [0, 0.6], got {density}")
    rng = np.random.default_rng(seed)
    grid = np.ones((rows, cols), dtype=np.uint8)
    grid[1:-1, 1:-1] = rng.random((rows - 2, cols - 2)) < density
    return _finish("forest", _keep_largest_region(grid), seed, cell_size, name)


# ----------------------------------------------------------------------------------------- rooms
def rooms(
    rows: int = 21,
    cols: int = 21,
    seed: int = 0,
    *,
    room: int = 4,
    door: int = 1,
    cell_size: float = 1.0,
    name: str | None = None,
) -> GridMap:
    """Rooms with doors by recursive division: a room at least ``2*room + 1`` cells across is split
    by a wall (placed so that no room is narrower than ``room`` cells and no earlier door is
    blocked) with one door ``door`` cells wide, until no room can be split."""
    _check_size("rooms", rows, cols, 3)
    room = _check_int("rooms", "room", room, 1)
    door = _check_int("rooms", "door", door, 1)
    if door > room:
        raise DitreeInputError(f"rooms: door ({door}) must not be wider than the smallest room ({room})")
    rng = np.random.default_rng(seed)
    grid = np.ones((rows, cols), dtype=np.uint8)
    grid[1:-1, 1:-1] = 0
    stack = [(1, rows - 1, 1, cols - 1)]  # free chambers [r0, r1) x [c0, c1)
    while stack:
        r0, r1, c0, c1 = stack.pop()
        h, w = r1 - r0, c1 - c0
        options = []
        if w >= 2 * room + 1:  # vertical wall at column c: no door of the walls above/below at its ends
            options += [("v", c) for c in range(c0 + room, c1 - room) if grid[r0 - 1, c] and grid[r1, c]]
        if h >= 2 * room + 1:
            options += [("h", r) for r in range(r0 + room, r1 - room) if grid[r, c0 - 1] and grid[r, c1]]
        if not options:
            continue
        if w != h and any(o[0] == ("v" if w > h else "h") for o in options):  # split the long side
            options = [o for o in options if o[0] == ("v" if w > h else "h")]
        axis, at = options[int(rng.integers(len(options)))]
        if axis == "v":
            grid[r0:r1, at] = 1
            d = int(rng.integers(r0, r1 - door + 1))
            grid[d : d + door, at] = 0
            stack += [(r0, r1, c0, at), (r0, r1, at + 1, c1)]
        else:
            grid[at, c0:c1] = 1
            d = int(rng.integers(c0, c1 - door + 1))
            grid[at, d : d + door] = 0
            stack += [(r0, at, c0, c1), (at + 1, r1, c0, c1)]
    return _finish("rooms", grid, seed, cell_size, name)


# ------------------------------------------------------------------------------------ serpentines
def serpentine(
    rows: int = 15,
    cols: int = 15,
    seed: int = 0,
    *,
    corridor: int = 1,
    cell_size: float = 1.0,
    name: str | None = None,
) -> GridMap:
    """One winding corridor: walls across the map leaving a gap alternately at one end and the
    other. The seed picks the direction (walls across rows or across columns), which end opens
    first, and each corridor's width and each gap's width (``corridor`` or ``corridor + 1`` cells)."""
    _check_size("serpentine", rows, cols, 3)
    w = _check_int("serpentine", "corridor", corridor, 1)
    rng = np.random.default_rng(seed)
    transpose = bool(rng.integers(2))
    H, W = (cols, rows) if transpose else (rows, cols)  # walls run along W
    if W - 2 < w + 2:
        raise DitreeInputError(f"serpentine: {rows} x {cols} cells are too small for corridors {w} cells wide")
    grid = np.ones((H, W), dtype=np.uint8)
    grid[1:-1, 1:-1] = 0
    left = bool(rng.integers(2))
    r = 1 + w + int(rng.integers(2))  # first wall row
    while r < H - 1 - w:  # a corridor at least w wide below it
        gap = min(w + int(rng.integers(2)), W - 3)
        grid[r, 1:-1] = 1
        if left:
            grid[r, 1 : 1 + gap] = 0
        else:
            grid[r, W - 1 - gap : W - 1] = 0
        left = not left
        r += 1 + w + int(rng.integers(2))
    grid = grid.T.copy() if transpose else grid
    return _finish("serpentine", grid, seed, cell_size, name)


# ------------------------------------------------------------------------------------- dispatch
GENERATORS: dict[str, Callable[..., GridMap]] = {
    "maze": maze,
    "forest": forest,
    "rooms": rooms,
    "serpentine": serpentine,
}
"""Generator of each world kind; every one is ``f(rows, cols, seed, *, <shape params>, cell_size, name)``."""

SHAPE_PARAMS: dict[str, tuple[str, ...]] = {
    "maze": ("corridor", "loop_fraction"),
    "forest": ("density",),
    "rooms": ("room", "door"),
    "serpentine": ("corridor",),
}
"""The shape parameters each kind accepts."""


def generate(kind: str, rows: int, cols: int, seed: int, *, cell_size: float = 1.0, name: str | None = None,
             **params) -> GridMap:
    """The world of ``kind`` (see :data:`GENERATORS`); ``params`` are that kind's shape parameters."""
    if kind not in GENERATORS:
        raise DitreeInputError(f"unknown world kind {kind!r}; known: {list(GENERATORS)}")
    bad = sorted(set(params) - set(SHAPE_PARAMS[kind]))
    if bad:
        raise DitreeInputError(f"world kind {kind!r} takes no parameter(s) {bad}; it takes {list(SHAPE_PARAMS[kind])}")
    return GENERATORS[kind](rows, cols, seed, cell_size=cell_size, name=name, **params)


# ------------------------------------------------------------------------------- start and goal
_HEADINGS = ((-1, 0, 90.0), (1, 0, 270.0), (0, 1, 0.0), (0, -1, 180.0))  # neighbour (dr, dc) -> degrees


def random_start_goal(
    world: GridMap,
    seed: int,
    *,
    robot: Robot | None = None,
    min_fraction: float = 0.6,
) -> tuple[tuple[int, int], float, tuple[int, int]]:
    """A start cell, start heading (degrees) and goal cell far apart: the start is a random free
    cell, the goal a random cell whose grid geodesic from the start is at least ``min_fraction``
    of the farthest reachable cell's. The heading points at the free neighbour nearest the goal, and
    the start pose is collision-free for ``robot`` (default: the car). Same seed, same answer."""
    from envs.car import Car
    from envs.collision import AnalyticCollisionChecker
    from envs.lower_bound import grid_distances

    if not 0.0 <= min_fraction <= 1.0:
        raise DitreeInputError(f"min_fraction must lie in [0, 1], got {min_fraction}")
    robot = robot or Car()
    checker = AnalyticCollisionChecker(world, robot.footprint)
    rng = np.random.default_rng(seed)
    free = world.free_cells()
    if len(free) < 2:
        raise DitreeInputError(f"map {world.name!r} has fewer than 2 free cells")
    for idx in rng.permutation(len(free)):
        start = (int(free[idx, 0]), int(free[idx, 1]))
        dist = grid_distances(world, start)
        reach = np.isfinite(dist) & (dist > 0)
        if not reach.any():
            continue
        far = np.argwhere(reach & (dist >= min_fraction * dist[reach].max()))
        gr, gc = far[int(rng.integers(len(far)))]
        goal = (int(gr), int(gc))
        to_goal = grid_distances(world, goal)
        heads = sorted(
            (to_goal[start[0] + dr, start[1] + dc], deg)
            for dr, dc, deg in _HEADINGS
            if world.in_bounds(start[0] + dr, start[1] + dc) and np.isfinite(to_goal[start[0] + dr, start[1] + dc])
        )
        x, y = world.cell_to_xy(*start)
        for _, deg in heads:
            if not checker.collides(np.array([[x, y, math.radians(deg)]]))[0]:
                return start, deg, goal
    raise DitreeInputError(f"map {world.name!r}: no collision-free start with a reachable goal for {robot.name}")


def generated_problem(
    kind: str = "maze",
    seed: int = 0,
    rows: int = 15,
    cols: int = 15,
    *,
    robot: Robot | None = None,
    min_fraction: float = 0.6,
    goal_radius: float = 0.5,
    **params,
) -> Problem:
    """A :class:`~envs.problem.Problem` on a generated world (:func:`generate`) with a start and
    goal from :func:`random_start_goal`, both from ``seed``. ``meta["generator"]`` records how to
    make it again. Cells are the robot's ``map_cell_size`` (1 m for the car)."""
    from envs.problem import Problem

    cell = float(getattr(robot, "map_cell_size", 1.0)) if robot is not None else 1.0
    world = generate(kind, rows, cols, seed, cell_size=cell, **params)
    start, deg, goal = random_start_goal(world, seed, robot=robot, min_fraction=min_fraction)
    p = Problem.from_cells(world, start, deg, goal, robot=robot, goal_radius=goal_radius, name=world.name)
    p.meta["generator"] = {"kind": kind, "seed": int(seed), "rows": int(rows), "cols": int(cols), **params}
    return p
