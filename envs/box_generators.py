"""Seeded box worlds and planning problems at a robot's scale: the training worlds of the dynobench robots.

DiTree's policies for dynobench's robots are trained only on worlds this module generates, never on
the benchmark's instances. Each kind (:data:`BOX_KINDS`) lays out axis-aligned boxes and circles
(:class:`~envs.box_world.BoxWorld`) in a canonical frame, then turns the whole layout by a random
multiple of 90 degrees, mirrors it or not, and shifts it:

- ``trap``: a U or bug trap (lips narrowing its mouth, or none) of random size, wall thickness and
  mouth offset; one of start and goal inside it, the other outside (often behind it);
- ``kink``: a solid block across the world crossed by a zigzag corridor of random width, bends
  and offsets, open ground on either side (or none: the corridor starts at the border);
- ``corridor``: one to three walls across the world (thin walls or thick ones, i.e. tunnels) with
  one or two doors each; start before the first wall, goal after the last;
- ``clutter``: random boxes and circles covering a random fraction of the world;
- ``parked``: a row of parked boxes along the border (and sometimes a second row across a lane)
  with one free slot, parallel or perpendicular; the goal is parked in the slot (or the start:
  unparking);
- ``open``: none to a few small obstacles, start and goal far apart with random headings.

Sizes come from the robot (:func:`robot_scale`): obstacle sizes, clearances and most world sides
from the diagonal of its largest body, room and slot sizes from the length of all its bodies in a
row (the car with its trailer), open and cluttered worlds' sides from its registered
``map_cell_size`` (6-16 cells). For the 0.5 m unicycle the worlds are a few metres across.
Every passage the layout builds is at least the body diagonal plus ``margin`` wide (default 10 %
of the diagonal), and a generated problem is accepted only if its start and goal are joined in the
free space of a disc of (almost) half that width: a raster flood fill of the points whose exact
clearance from every obstacle is at least ``passage / 2 - h`` (``h`` the raster pitch), so the
reference point can travel from start to goal through passages at least ``passage - 2 h`` wide.
That is necessary, not sufficient, for a robot that cannot turn in place (``unicycle1_v1``) or
that tows a trailer. A layout that fails is redrawn from a seed derived from ``(seed, attempt)``,
so the same seed always gives the same world and problem.

:func:`box_world` and :func:`box_problem` take ``(kind, seed, robot, **params)``; ``params`` fix
some of the random choices (:data:`BOX_PARAMS`: e.g. ``corridor=0.8`` for a kink's width in m).
:func:`box_kind_for` assigns kinds to episodes. :func:`layout_similarity` compares two worlds'
occupancy (the guard that generated worlds do not reproduce the benchmark's; docs/maps.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from envs.box_world import BoxWorld
from envs.errors import DitreeInputError

if TYPE_CHECKING:
    from envs.problem import Problem
    from envs.robot import Robot

__all__ = ["BOX_KINDS", "BOX_PARAMS", "RobotScale", "box_kind_for", "box_problem", "box_world",
           "layout_occupancy", "layout_similarity", "occupancy_similarity", "robot_scale"]

BOX_KINDS: tuple[str, ...] = ("trap", "kink", "corridor", "clutter", "parked", "open")
"""The kinds of generated box world, in the order :func:`box_kind_for` cycles through them."""

BOX_PARAMS: dict[str, dict[str, str]] = {
    "trap": {"depth": "inner depth from the mouth to the back wall (m)", "span": "inner width across (m)",
             "mouth": "mouth width (m); the full span = a U without lips", "thickness": "wall thickness (m)"},
    "kink": {"corridor": "corridor width (m)", "bends": "number of bends (int >= 1)"},
    "corridor": {"walls": "number of walls (int 1..4)", "door": "door width (m)", "thickness": "wall thickness (m)"},
    "clutter": {"density": "fraction of the world covered (0..0.5)", "circle_fraction": "share of circles (0..1)"},
    "parked": {"style": "'parallel' or 'perpendicular'", "slot": "free slot length along the row (m)"},
    "open": {"obstacles": "number of small obstacles (int 0..6)"},
}
"""Shape parameters each kind accepts (name -> meaning); every kind also takes ``margin`` (m, the
passage width over the body diagonal). A parameter not given is drawn from the seed."""

_COMMON_PARAMS = ("margin",)
MAX_ATTEMPTS = 40
"""Layouts drawn per call before giving up (each from the seed derived from (seed, attempt))."""
_CANDIDATES = 64  # start/goal positions tried per side and attempt


# ----------------------------------------------------------------------------------- robot scale
@dataclass(frozen=True)
class RobotScale:
    """The sizes a generated world is built from, all in metres.

    ``diag``: diagonal of the robot's largest body; ``train_length``: length of all its bodies in a
    row at rest (a car with its trailer); ``reach``: farthest body corner from the reference point
    at rest; ``cell``: the registered ``map_cell_size``; ``margin``: passage width over ``diag``.
    """

    diag: float
    train_length: float
    body_length: float
    body_width: float
    reach: float
    cell: float
    margin: float

    @property
    def passage(self) -> float:
        """The narrowest passage a layout builds (m): ``diag + margin``."""
        return self.diag + self.margin

    @property
    def pitch(self) -> float:
        """Raster pitch (m) of the connectivity check: fine enough that a passage's middle band
        ``margin`` wide holds at least two raster points across."""
        return min(0.025, self.margin / 3.0)

    @property
    def clearance(self) -> float:
        """Clearance (m) a raster point of the connectivity check needs: ``passage / 2 - pitch``."""
        return 0.5 * self.passage - self.pitch


def robot_scale(robot: Robot, margin: float | None = None) -> RobotScale:
    """The :class:`RobotScale` of ``robot`` (its bodies at ``rest_state(0, 0, 0)`` and its registered
    ``map_cell_size``, 0.5 m when it is not registered); ``margin`` defaults to 10 % of the diagonal."""
    from envs.registry import robot_spec

    bodies = robot.bodies
    diag = max(math.hypot(b.length, b.width) for b in bodies)
    poses = np.asarray(robot.footprint_poses(robot.rest_state(0.0, 0.0, 0.0)[None]), dtype=float)[0]
    corners = np.concatenate([b.corners(poses[k][None])[0] for k, b in enumerate(bodies)])
    try:
        cell = float(robot_spec(robot.name).map_cell_size)
    except DitreeInputError:
        cell = 0.5
    m = 0.1 * diag if margin is None else float(margin)
    if not (math.isfinite(m) and m > 0):
        raise DitreeInputError(f"box world: margin must be a positive number of metres, got {margin!r}")
    front = max(b.length for b in bodies)
    return RobotScale(diag=diag, train_length=float(np.ptp(corners[:, 0])), body_length=front,
                      body_width=max(b.width for b in bodies), reach=float(np.linalg.norm(corners, axis=1).max()),
                      cell=cell, margin=m)


# ---------------------------------------------------------------------------------- the layouts
Rect = tuple[float, float, float, float]  # (xmin, ymin, xmax, ymax)


@dataclass
class _Layout:
    """A layout in its canonical frame ``[0, W] x [0, H]``: obstacles, the regions start and goal
    are drawn from (rectangles), their preferred headings (None: any) and the values drawn."""

    W: float
    H: float
    boxes: list[list[float]]
    circles: list[list[float]]
    start_regions: list[Rect]
    goal_regions: list[Rect]
    start_yaws: tuple[float, ...] | None = None
    goal_yaws: tuple[float, ...] | None = None
    drawn: dict[str, Any] | None = None
    edge: float | None = None  # least distance (m) of start and goal from the bounds; None: half the body diagonal


def _box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [0.5 * (x0 + x1), 0.5 * (y0 + y1), x1 - x0, y1 - y0]


def _complement(W: float, H: float, free: list[Rect], solid: Rect | None = None) -> list[list[float]]:
    """Boxes covering ``solid`` (default the whole ``[0, W] x [0, H]``) minus the union of the
    ``free`` rectangles: a compressed grid over all rectangle edges, occupied cells merged into
    vertical runs and equal runs of neighbouring columns into one box."""
    sx0, sy0, sx1, sy1 = solid or (0.0, 0.0, W, H)
    xs = np.unique(np.clip([sx0, sx1, *[r[0] for r in free], *[r[2] for r in free]], sx0, sx1))
    ys = np.unique(np.clip([sy0, sy1, *[r[1] for r in free], *[r[3] for r in free]], sy0, sy1))
    cx, cy = 0.5 * (xs[:-1] + xs[1:]), 0.5 * (ys[:-1] + ys[1:])
    occ = np.ones((len(cx), len(cy)), dtype=bool)
    for x0, y0, x1, y1 in free:
        occ &= ~(((cx > x0) & (cx < x1))[:, None] & ((cy > y0) & (cy < y1))[None, :])
    boxes: list[list[float]] = []
    open_runs: dict[tuple[int, int], int] = {}  # run (j0, j1) -> first column
    for i in range(len(cx) + 1):
        runs = set()
        if i < len(cx):
            j = 0
            while j < len(cy):
                if occ[i, j]:
                    j1 = j
                    while j1 < len(cy) and occ[i, j1]:
                        j1 += 1
                    runs.add((j, j1))
                    j = j1
                else:
                    j += 1
        for run in [r for r in open_runs if r not in runs]:
            i0 = open_runs.pop(run)
            boxes.append(_box(xs[i0], ys[run[0]], xs[i], ys[run[1]]))
        for run in runs:
            open_runs.setdefault(run, i)
    return [b for b in boxes if b[2] > 1e-9 and b[3] > 1e-9]


def _trap(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u, P = sc.diag, sc.passage
    t = p.get("thickness", rng.uniform(0.2, 0.9) * u)
    inner_min = max(2.2 * u, 2.4 * sc.reach, P + 0.2 * u)
    a = p.get("depth", rng.uniform(inner_min, max(inner_min, 6.0 * u)))
    b = p.get("span", rng.uniform(inner_min, max(inner_min, 6.0 * u)))
    if "mouth" in p:
        mouth = min(p["mouth"], b)
    elif rng.random() < 0.35 or b < P + 0.3 * u:
        mouth = b
    else:
        mouth = rng.uniform(P, max(P, min(b - 0.3 * u, 2.5 * P)))
    lips = mouth < b - 1e-9
    gaps = rng.uniform(P + 0.1 * u, max(P + 0.1 * u, 3.5 * u), size=4)  # left (mouth side), right, bottom, top
    x0 = gaps[0]  # the mouth's side (lips, if any, at x0 .. x0 + t)
    xi0 = x0 + (t if lips else 0.0)
    xi1 = xi0 + a
    y0 = gaps[2]
    yi0, yi1 = y0 + t, y0 + t + b
    W = xi1 + t + gaps[1]
    H = yi1 + t + gaps[3]
    boxes = [_box(xi1, y0, xi1 + t, yi1 + t),  # back wall
             _box(x0, y0, xi1, yi0), _box(x0, yi1, xi1, yi1 + t)]  # side walls
    if lips:
        m0 = yi0 + rng.uniform(0.0, b - mouth)
        if m0 > yi0 + 1e-9:
            boxes.append(_box(x0, yi0, xi0, m0))
        if m0 + mouth < yi1 - 1e-9:
            boxes.append(_box(x0, m0 + mouth, xi0, yi1))
    inside = [(xi0, yi0, xi1, yi1)]
    strips = {"mouth": (0.0, 0.0, x0, H), "back": (xi1 + t, 0.0, W, H),
              "bottom": (0.0, 0.0, W, y0), "top": (0.0, yi1 + t, W, H)}
    outside = [strips["back"]] if rng.random() < 0.5 else list(strips.values())
    extra = int(rng.integers(0, 3)) if rng.random() < 0.3 else 0
    circles = []
    for _ in range(extra):  # a small obstacle or two out in the open
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        if not (x0 - P < x < xi1 + t + P and y0 - P < y < yi1 + t + P):
            circles.append([x, y, rng.uniform(0.15, 0.5) * u])
    starts, goals = (inside, outside) if rng.random() < 0.5 else (outside, inside)
    return _Layout(W, H, boxes, circles, starts, goals,
                   drawn={"depth": a, "span": b, "mouth": mouth, "thickness": t, "extra_obstacles": len(circles)})


def _kink(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u, P = sc.diag, sc.passage
    w = p.get("corridor", rng.uniform(P, 1.8 * P))
    bends = int(p.get("bends", rng.integers(1, 5)))
    runs = bends + 1
    lengths = rng.uniform(w + 0.3 * u, max(w + 0.3 * u, 2.5 * u), size=runs)
    levels = [0.0]
    for _ in range(bends):
        levels.append(levels[-1] + rng.choice([-1.0, 1.0]) * rng.uniform(0.6 * w, max(0.6 * w, 3.0 * u)))
    levels_a = np.array(levels) - min(levels)
    wall_lo, wall_hi = rng.uniform(0.3 * u, 2.5 * u, size=2)  # solid block below / above the corridor
    H = float(levels_a.max()) + w + wall_lo + wall_hi
    levels_a += wall_lo + 0.5 * w
    left = rng.uniform(1.2 * u, 3.5 * u) if rng.random() < 0.8 else 0.0
    right = rng.uniform(1.2 * u, 3.5 * u) if rng.random() < 0.8 else 0.0
    xs = left + np.concatenate([[0.0], np.cumsum(lengths)])
    W = float(xs[-1]) + right
    free: list[Rect] = []
    for i in range(runs):  # horizontal runs, overlapping the vertical connectors at the bends
        lo = xs[i] - (0.5 * w if i > 0 else 0.0)
        hi = xs[i + 1] + (0.5 * w if i < runs - 1 else 0.0)
        free.append((lo, levels_a[i] - 0.5 * w, hi, levels_a[i] + 0.5 * w))
    for i in range(bends):
        y_a, y_b = sorted((levels_a[i], levels_a[i + 1]))
        free.append((xs[i + 1] - 0.5 * w, y_a - 0.5 * w, xs[i + 1] + 0.5 * w, y_b + 0.5 * w))
    boxes = _complement(W, H, free, solid=(left, 0.0, float(xs[-1]), H))
    first, last = free[0], free[runs - 1]
    starts = [(0.0, 0.0, left, H)] if left > 0 else [first]
    goals = [(xs[-1], 0.0, W, H)] if right > 0 else [last]
    if rng.random() < 0.5:
        starts, goals = goals, starts
    return _Layout(W, H, boxes, [], starts, goals, start_yaws=(0.0, math.pi), goal_yaws=(0.0, math.pi),
                   drawn={"corridor": w, "bends": bends})


def _corridor(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u, P = sc.diag, sc.passage
    n = int(p.get("walls", rng.integers(1, 4)))
    H = rng.uniform(max(4.0 * u, 2.5 * P), max(4.0 * u, 2.5 * P, 12.0 * u))
    room_min = max(1.5 * u, 1.3 * sc.train_length, P)
    x = rng.uniform(room_min, max(room_min, 3.5 * u))
    boxes: list[list[float]] = []
    doors, thick = [], []
    rooms = [(0.0, x)]
    for i in range(n):
        t = p.get("thickness", rng.uniform(0.15, 0.6) * u if rng.random() < 0.7 else rng.uniform(0.6, 3.0) * u)
        d = min(p.get("door", rng.uniform(P, 2.0 * P)), H)
        n_doors = 2 if (rng.random() < 0.25 and H > 2 * d + P) else 1
        cuts = []
        for _ in range(n_doors):
            for _ in range(20):
                y = rng.uniform(0.0, H - d)
                if all(y + d + 0.5 * P < c0 or y > c1 + 0.5 * P for c0, c1 in cuts):
                    cuts.append((y, y + d))
                    break
        cuts.sort()
        y = 0.0
        for c0, c1 in cuts + [(H, H)]:
            if c0 > y + 0.3 * u:  # no slivers of wall: a door at the border reaches it
                boxes.append(_box(x, y, x + t, c0))
            y = c1
        doors.append([[round(c0, 4), round(c1, 4)] for c0, c1 in cuts])
        thick.append(t)
        x += t
        room = rng.uniform(room_min, max(room_min, 4.0 * u)) if i < n - 1 else rng.uniform(room_min, max(room_min, 3.5 * u))
        rooms.append((x, x + room))
        x += room
    W = x
    starts, goals = [(rooms[0][0], 0.0, rooms[0][1], H)], [(rooms[-1][0], 0.0, rooms[-1][1], H)]
    if rng.random() < 0.5:
        starts, goals = goals, starts
    return _Layout(W, H, boxes, [], starts, goals, drawn={"walls": n, "doors": doors, "thickness": thick})


def _clutter(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u = sc.diag
    lo, hi = max(7.0 * sc.cell, 6.0 * u), max(15.0 * sc.cell, 8.0 * u)
    W, H = rng.uniform(lo, hi, size=2)
    density = p.get("density", rng.uniform(0.08, 0.3))
    circle_fraction = p.get("circle_fraction", rng.uniform(0.0, 0.6))
    boxes: list[list[float]] = []
    circles: list[list[float]] = []
    area = 0.0
    for _ in range(200):
        if area >= density * W * H:
            break
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        if rng.random() < circle_fraction:
            r = rng.uniform(0.15, 0.9) * u
            circles.append([x, y, r])
            area += math.pi * r * r
        else:
            sx, sy = rng.uniform(0.25, 2.2, size=2) * u
            boxes.append([x, y, sx, sy])
            area += sx * sy
    third = W / 3.0
    return _Layout(W, H, boxes, circles, [(0.0, 0.0, third, H)], [(W - third, 0.0, W, H)],
                   drawn={"density": density, "circle_fraction": circle_fraction, "obstacles": len(boxes) + len(circles)})


def _parked(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u, P = sc.diag, sc.passage
    style = p.get("style", "parallel" if rng.random() < 0.6 else "perpendicular")
    car_l = rng.uniform(0.8, 1.3) * sc.body_length
    car_w = rng.uniform(0.8, 1.4) * sc.body_width
    if style == "parallel":
        along, depth = car_l, car_w  # a parked box's side along the row and across it
        slot = p.get("slot", rng.uniform(max(1.5 * sc.train_length, P + 0.2 * u), max(1.5 * sc.train_length, P + 0.2 * u,
                                                                                      2.6 * sc.train_length)))
    else:
        along, depth = car_w, car_l
        slot = p.get("slot", rng.uniform(P, 1.8 * P))
    curb = rng.uniform(0.0, 0.3) * u  # from the border to the row
    n_left, n_right = (int(v) for v in rng.integers(0, 4, size=2))
    if rng.random() < 0.7:
        n_left, n_right = max(n_left, 1), max(n_right, 1)
    x = rng.uniform(0.0, 2.0 * u)
    boxes: list[list[float]] = []
    for _ in range(n_left):
        boxes.append(_box(x, curb, x + along, curb + depth))
        x += along + rng.uniform(0.05, 0.6) * along
    x += rng.uniform(0.0, 0.2) * along if n_left == 0 else 0.0
    slot_x = (x, x + slot)
    x += slot
    for i in range(n_right):
        x += rng.uniform(0.05, 0.6) * along if i > 0 else 0.0
        boxes.append(_box(x, curb, x + along, curb + depth))
        x += along
    W = max(x + rng.uniform(0.0, 2.0 * u), 6.0 * sc.cell)
    lane = rng.uniform(P + 0.1 * u, max(P + 0.1 * u, 3.0 * u))
    lane_y = (curb + depth, curb + depth + lane)
    H = lane_y[1]
    if rng.random() < 0.4:  # a second row across the lane, with random gaps
        x2 = rng.uniform(-0.5, 0.5) * along
        while x2 < W:
            boxes.append(_box(x2, H, x2 + along, H + depth))
            x2 += along + rng.uniform(0.3, 2.0) * along
        H += depth + rng.uniform(0.0, 0.3) * u
    else:
        H += rng.uniform(0.0, 1.0) * u
    yc = curb + 0.5 * depth
    slot_rect = (slot_x[0], curb, slot_x[1], curb + depth)
    park = (slot_rect[0] + 0.5 * slot - 0.1 * u, yc - 0.05 * u, slot_rect[0] + 0.5 * slot + 0.1 * u, yc + 0.05 * u)
    if style == "parallel":
        park_yaws: tuple[float, ...] = (0.0, math.pi)
    else:  # nose in (heading to the border) or backed in
        park_yaws = (-0.5 * math.pi, 0.5 * math.pi)
        park = (park[0], curb + 0.5 * sc.body_length - 0.05 * u, park[2], curb + 0.5 * sc.body_length + 0.1 * u)
    drive = [(0.0, lane_y[0], W, lane_y[1])]
    starts, goals, s_yaw, g_yaw = drive, [park], (0.0, math.pi), park_yaws
    if rng.random() < 0.3:  # unparking
        starts, goals, s_yaw, g_yaw = goals, starts, g_yaw, s_yaw
    return _Layout(W, H, boxes, [], starts, goals, s_yaw, g_yaw,
                   drawn={"style": style, "slot": slot, "lane": lane, "parked": len(boxes)}, edge=0.0)


def _open(rng: np.random.Generator, sc: RobotScale, p: dict) -> _Layout:
    u = sc.diag
    lo, hi = max(6.0 * sc.cell, 5.0 * u), max(16.0 * sc.cell, 8.0 * u)
    W, H = rng.uniform(lo, hi, size=2)
    n = int(p.get("obstacles", rng.choice([0, 0, 1, 2, 3])))
    boxes, circles = [], []
    for _ in range(n):
        x, y = rng.uniform(0.3 * W, 0.7 * W), rng.uniform(0, H)
        if rng.random() < 0.5:
            circles.append([x, y, rng.uniform(0.2, 0.8) * u])
        else:
            boxes.append([x, y, *rng.uniform(0.3, 1.5, size=2) * u])
    q = W / 4.0
    return _Layout(W, H, boxes, circles, [(0.0, 0.0, q, H)], [(W - q, 0.0, W, H)], drawn={"obstacles": n})


_BUILDERS: dict[str, Callable[[np.random.Generator, RobotScale, dict], _Layout]] = {
    "trap": _trap, "kink": _kink, "corridor": _corridor, "clutter": _clutter, "parked": _parked, "open": _open,
}


# ----------------------------------------------------------------------------------- parameters
def _check_params(kind: str, params: dict, sc: RobotScale, robot_name: str) -> dict:
    """The shape parameters, checked: unknown names and bad values are one-line errors naming them."""
    if kind not in BOX_KINDS:
        raise DitreeInputError(f"unknown box world kind {kind!r}; known: {list(BOX_KINDS)}")
    known = (*BOX_PARAMS[kind], *_COMMON_PARAMS)
    bad = sorted(set(params) - set(known))
    if bad:
        raise DitreeInputError(f"box world kind {kind!r} takes no parameter(s) {bad}; it takes {list(known)}")
    out: dict[str, Any] = {}
    for name, v in params.items():
        if name == "margin":
            continue
        where = f"box world kind {kind!r}: {name}"
        if name == "style":
            if v not in ("parallel", "perpendicular"):
                raise DitreeInputError(f"{where} must be 'parallel' or 'perpendicular', got {v!r}")
            out[name] = v
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DitreeInputError(f"{where} must be a number, got {v!r}")
        if name in ("bends", "walls", "obstacles"):
            lo, hi = {"bends": (1, 8), "walls": (1, 4), "obstacles": (0, 6)}[name]
            if int(v) != v or not lo <= v <= hi:
                raise DitreeInputError(f"{where} must be an integer in [{lo}, {hi}], got {v!r}")
            out[name] = int(v)
        elif name in ("density", "circle_fraction"):
            hi = 0.5 if name == "density" else 1.0
            if not 0.0 <= v <= hi:
                raise DitreeInputError(f"{where} must lie in [0, {hi}], got {v!r}")
            out[name] = float(v)
        else:  # lengths in metres
            if not v > 0:
                raise DitreeInputError(f"{where} must be a positive length (m), got {v!r}")
            narrowest = {"corridor": sc.passage, "door": sc.passage, "mouth": sc.passage,
                         "depth": 2.0 * sc.reach, "span": sc.passage, "slot": sc.passage}.get(name)
            if narrowest is not None and v < narrowest - 1e-9:
                raise DitreeInputError(f"{where} = {v:g} m is narrower than {narrowest:.3f} m, the least {robot_name} "
                                       f"needs (body diagonal {sc.diag:.3f} m + margin {sc.margin:.3f} m)")
            out[name] = float(v)
    if kind == "trap" and "mouth" in out and "span" in out and out["mouth"] > out["span"]:
        raise DitreeInputError(f"box world kind 'trap': mouth {out['mouth']:g} m is wider than the span {out['span']:g} m")
    return out


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DitreeInputError(f"box world seed must be an integer >= 0, got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------ frame and checks
@dataclass(frozen=True)
class _Frame:
    """Mirror (x -> -x) about the layout's centre, then rotate by ``k`` quarter turns, then shift the
    lower-left corner to ``origin``."""

    W: float
    H: float
    k: int
    mirror: bool
    origin: tuple[float, float]

    @property
    def size(self) -> tuple[float, float]:
        return (self.H, self.W) if self.k % 2 else (self.W, self.H)

    def points(self, xy: np.ndarray) -> np.ndarray:
        q = np.asarray(xy, dtype=float).reshape(-1, 2) - (0.5 * self.W, 0.5 * self.H)
        if self.mirror:
            q[:, 0] = -q[:, 0]
        for _ in range(self.k):
            q = np.column_stack([-q[:, 1], q[:, 0]])
        w, h = self.size
        return q + (0.5 * w + self.origin[0], 0.5 * h + self.origin[1])

    def yaw(self, yaw: float) -> float:
        a = (math.pi - yaw) if self.mirror else yaw
        a += 0.5 * math.pi * self.k
        return (a + math.pi) % (2 * math.pi) - math.pi

    def rect(self, r: Rect) -> Rect:
        c = self.points(np.array([[r[0], r[1]], [r[2], r[3]]]))
        return (float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max()))

    def boxes(self, boxes: list[list[float]]) -> np.ndarray:
        b = np.asarray(boxes, dtype=float).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, :2] = self.points(b[:, :2])
        out[:, 2:] = b[:, 2:][:, ::-1] if self.k % 2 else b[:, 2:]
        return out

    def circles(self, circles: list[list[float]]) -> np.ndarray:
        c = np.asarray(circles, dtype=float).reshape(-1, 3)
        return np.column_stack([self.points(c[:, :2]), c[:, 2]])


def clearance(world: BoxWorld, xy: np.ndarray) -> np.ndarray:
    """Exact distance (m) of points ``(..., 2)`` to the nearest obstacle of ``world`` (0 inside one;
    ``inf`` without obstacles). The world's bounds are not obstacles."""
    xy = np.asarray(xy, dtype=float)
    p = xy[..., None, :]
    d = np.full(xy.shape[:-1], np.inf)
    if len(world.boxes):
        b = world.boxes
        dx = np.maximum(np.abs(p[..., 0] - b[:, 0]) - 0.5 * b[:, 2], 0.0)
        dy = np.maximum(np.abs(p[..., 1] - b[:, 1]) - 0.5 * b[:, 3], 0.0)
        d = np.minimum(d, np.hypot(dx, dy).min(axis=-1))
    if len(world.circles):
        c = world.circles
        d = np.minimum(d, np.maximum(np.hypot(p[..., 0] - c[:, 0], p[..., 1] - c[:, 1]) - c[:, 2], 0.0).min(axis=-1))
    return d


def _clear_raster(world: BoxWorld, sc: RobotScale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raster points ``(ny, nx, 2)`` over the bounds at ``sc.pitch``, their free mask (clearance at
    least ``sc.clearance``) and the 4-connected labels of the free points."""
    x0, y0, x1, y1 = world.bounds
    h = sc.pitch
    xs = np.linspace(x0, x1, max(2, round((x1 - x0) / h) + 1))
    ys = np.linspace(y0, y1, max(2, round((y1 - y0) / h) + 1))
    pts = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1)
    free = clearance(world, pts) >= sc.clearance
    labels, _ = ndimage.label(free)
    return pts, free, labels


def _pick(rng: np.random.Generator, robot: Robot, world: BoxWorld, checker, pts: np.ndarray, labels: np.ndarray,
          regions: list[Rect], yaws: tuple[float, ...] | None, need_label: int | None, edge: float
          ) -> tuple[np.ndarray, int] | None:
    """A collision-free rest state of ``robot`` at a free raster point inside ``regions``, at least
    ``edge`` from the bounds (with the label ``need_label`` when given), at one of ``yaws``
    (jittered; or any heading): ``(state, label)``."""
    from envs.collision import robot_collides

    flat, lab = pts.reshape(-1, 2), labels.reshape(-1)
    inside = np.zeros(len(flat), dtype=bool)
    for x0, y0, x1, y1 in regions:
        inside |= (flat[:, 0] >= x0) & (flat[:, 0] <= x1) & (flat[:, 1] >= y0) & (flat[:, 1] <= y1)
    bx0, by0, bx1, by1 = world.bounds
    inside &= ((flat[:, 0] >= bx0 + edge) & (flat[:, 0] <= bx1 - edge) & (flat[:, 1] >= by0 + edge)
               & (flat[:, 1] <= by1 - edge))
    ok = inside & (lab > 0) if need_label is None else inside & (lab == need_label)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return None
    idx = rng.choice(idx, size=min(_CANDIDATES, len(idx)), replace=False)
    n_yaw = 4
    if yaws is None:
        cand = rng.uniform(-math.pi, math.pi, size=(len(idx), n_yaw))
    else:
        cand = np.array(yaws)[rng.integers(len(yaws), size=(len(idx), n_yaw))]
        cand += rng.uniform(-0.15, 0.15, size=cand.shape) * (rng.random(cand.shape) < 0.5)
        cand[:, -1] = rng.uniform(-math.pi, math.pi, size=len(idx))  # the last try: any heading
    cand = (cand + math.pi) % (2 * math.pi) - math.pi
    states = np.array([[robot.rest_state(float(flat[i, 0]), float(flat[i, 1]), float(a)) for a in row]
                       for i, row in zip(idx, cand)])
    hit = robot_collides(robot, checker, states)
    for n in range(len(idx)):
        free = np.flatnonzero(~hit[n])
        if len(free):
            return states[n, free[0]], int(lab[idx[n]])
    return None


# --------------------------------------------------------------------------------------- public
def _generate(kind: str, seed: int, robot: Robot, params: dict):
    from envs.collision import AnalyticCollisionChecker

    seed = _check_seed(seed)
    margin = params.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
        raise DitreeInputError(f"box world kind {kind!r}: margin must be a positive number of metres, got {margin!r}")
    sc = robot_scale(robot, margin)
    shape = _check_params(kind, params, sc, robot.name)
    kind_id = BOX_KINDS.index(kind)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, kind_id, attempt])
        lay = _BUILDERS[kind](rng, sc, shape)
        frame = _Frame(lay.W, lay.H, int(rng.integers(4)), bool(rng.integers(2)),
                       tuple(float(v) for v in np.round(rng.uniform(-1.0, 1.0, size=2) * 4 * sc.cell, 3)))
        w, h = frame.size
        world = BoxWorld((frame.origin[0], frame.origin[1], frame.origin[0] + w, frame.origin[1] + h),
                         frame.boxes(lay.boxes), frame.circles(lay.circles), name=f"box_{kind}_s{seed}")
        pts, free, labels = _clear_raster(world, sc)
        checker = AnalyticCollisionChecker(world, robot.bodies)
        syaws = None if lay.start_yaws is None else tuple(frame.yaw(a) for a in lay.start_yaws)
        gyaws = None if lay.goal_yaws is None else tuple(frame.yaw(a) for a in lay.goal_yaws)
        edge = 0.5 * sc.diag if lay.edge is None else lay.edge
        s = _pick(rng, robot, world, checker, pts, labels, [frame.rect(r) for r in lay.start_regions], syaws, None, edge)
        if s is None:
            continue
        g = _pick(rng, robot, world, checker, pts, labels, [frame.rect(r) for r in lay.goal_regions], gyaws, s[1], edge)
        if g is None or np.linalg.norm(g[0][:2] - s[0][:2]) < 2.0 * sc.diag:
            continue
        drawn = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in (lay.drawn or {}).items()}
        record = {"kind": kind, "seed": seed, "robot": robot.name, "params": dict(params), "attempt": attempt,
                  "drawn": drawn, "quarter_turns": frame.k, "mirrored": frame.mirror,
                  "free_fraction": round(float(free.mean()), 4)}
        return world, s[0], g[0], record
    raise DitreeInputError(f"box world kind {kind!r} (seed {seed}, robot {robot.name}, params {params}): no layout "
                           f"with a connected collision-free start and goal in {MAX_ATTEMPTS} attempts")


def box_world(kind: str, seed: int, robot: Robot, **params) -> BoxWorld:
    """The generated world of ``kind`` (:data:`BOX_KINDS`) for ``robot``, from ``seed`` (an int >= 0);
    ``params`` fix shape parameters (:data:`BOX_PARAMS`, plus ``margin``). The same arguments give the
    same world, the world of :func:`box_problem` with the same arguments. Bad kinds, parameters and
    seeds are one-line :class:`~envs.errors.DitreeInputError` naming them."""
    return _generate(kind, seed, robot, params)[0]


def box_problem(kind: str, seed: int, robot: Robot, *, goal_tol: float | None = None, **params) -> Problem:
    """A :class:`~envs.problem.Problem` on :func:`box_world`'s world: a collision-free start at rest
    (``robot.rest_state``) and a full-state goal at rest (:class:`~envs.goal.StateGoal` of tolerance
    ``goal_tol`` in the robot's metric, default the registered ``goal_tolerance``), joined through
    passages the robot's body diagonal plus ``margin`` wide (module docstring). ``meta["generator"]``
    holds kind, seed, robot, params, goal tolerance and the values drawn: with ``g = meta["generator"]``,
    ``box_problem(g["kind"], g["seed"], robot, goal_tol=g["goal_tol"], **g["params"])`` makes it again."""
    from envs.goal import StateGoal
    from envs.problem import Problem
    from envs.registry import robot_spec

    if goal_tol is None:
        goal_tol = float(robot_spec(robot.name).goal_tolerance)
    elif isinstance(goal_tol, bool) or not isinstance(goal_tol, (int, float)) or not goal_tol > 0:
        raise DitreeInputError(f"box_problem: goal_tol must be a positive number, got {goal_tol!r}")
    world, start, goal, record = _generate(kind, seed, robot, params)
    record["goal_tol"] = float(goal_tol)
    meta = {"generator": record, "map": world.name}
    return Problem(robot, world, start, StateGoal.for_robot(robot, goal, float(goal_tol)),
                   name=f"{robot.name}/box_{kind}_s{seed}", meta=meta)


def box_kind_for(index: int, seed: int, kinds: tuple[str, ...] = BOX_KINDS) -> str:
    """The kind of episode ``index`` of a collection seeded ``seed``: each block of ``len(kinds)``
    consecutive episodes holds every kind once, in an order shuffled per block by ``(seed, block)``."""
    if not kinds:
        raise DitreeInputError("box_kind_for: kinds is empty")
    bad = [k for k in kinds if k not in BOX_KINDS]
    if bad:
        raise DitreeInputError(f"box_kind_for: unknown box world kind(s) {bad}; known: {list(BOX_KINDS)}")
    index, seed = int(index), _check_seed(seed)
    if index < 0:
        raise DitreeInputError(f"box_kind_for: index must be >= 0, got {index}")
    block, pos = divmod(index, len(kinds))
    order = np.random.default_rng([seed, block]).permutation(len(kinds))
    return kinds[int(order[pos])]


# --------------------------------------------------------------------------------- similarity
SIMILARITY_CELLS = 32
"""Cells per side of the common raster :func:`layout_similarity` compares on."""


def layout_occupancy(world: BoxWorld, cells: int = SIMILARITY_CELLS, sub: int = 4) -> np.ndarray:
    """Fraction of each of ``cells x cells`` cells over the world's bounds (stretched onto the unit
    square) inside an obstacle, sampled ``sub x sub`` per cell -> ``(cells, cells)`` in [0, 1]."""
    x0, y0, x1, y1 = world.bounds
    u = (np.arange(cells * sub) + 0.5) / (cells * sub)
    X, Y = np.meshgrid(x0 + u * (x1 - x0), y0 + u * (y1 - y0), indexing="xy")
    occ = world.in_obstacle(np.stack([X, Y], axis=-1)).astype(float)
    return occ.reshape(cells, sub, cells, sub).mean(axis=(1, 3))


def occupancy_similarity(A: np.ndarray, B: np.ndarray) -> float:
    """:func:`layout_similarity` of two :func:`layout_occupancy` rasters of the same shape."""
    best = 0.0
    for Bm in (B, B[:, ::-1]):
        for k in range(4):
            Bk = np.rot90(Bm, k)
            union = np.maximum(A, Bk).sum()
            best = max(best, 1.0 if union == 0 else float(np.minimum(A, Bk).sum() / union))
    return best


def layout_similarity(a: BoxWorld, b: BoxWorld, cells: int = SIMILARITY_CELLS) -> float:
    """How alike two worlds' layouts are, in [0, 1]: both bounds are stretched onto the unit square,
    each of ``cells x cells`` cells gets the fraction of it inside an obstacle, and the score is the
    soft intersection over union ``sum(min) / sum(max)`` of the two, the largest over the 8 quarter
    turns and mirrors of ``b`` (a turned or mirrored copy is the same layout). 1 = same occupancy
    (two empty worlds included), 0 = no common obstacle cell (docs/maps.md)."""
    return occupancy_similarity(layout_occupancy(a, cells), layout_occupancy(b, cells))
