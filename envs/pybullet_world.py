"""PyBullet collision checking of a robot's footprint (one or more rectangular bodies) against a world.

:class:`PyBulletWorld` builds a PyBullet scene (its own ``p.DIRECT`` client) from a
:class:`~envs.world.GridMap` (below) or a :class:`~envs.box_world.BoxWorld` (one ``GEOM_BOX`` per box
and one ``GEOM_SPHERE`` per circle, centred at z = 0: its slice through the car boxes' z range is
the circle itself; no frame, since a BoxWorld has no walls at its border and its ``bounds`` restrict
only the reference point, which ``envs.collision.robot_collides`` checks; no broad phase).
For a GridMap:

- wall cells greedily merged into maximal axis-aligned rectangles, each one box link of a static
  multibody (at most :data:`MAX_LINKS` links per ``createMultiBody``: PyBullet silently drops more);
- a wall frame of four boxes around the map, because everything outside the map is wall;
- ``max_bodies`` robot slots, each of ``K`` car boxes (one per body of the footprint, a
  :class:`~envs.footprint.Footprint` each), parked far above the walls until used. A collision
  filter makes car-car and wall-wall pairs invisible to each other, so Bullet only tests car
  against wall: bodies of one robot (and of different slots) never collide with each other.

Everything is 2-D extruded to 3-D: walls span z in [-0.5, 0.5] m, cars z in [-0.1, 0.1] m, so a
contact between them is a contact of their 2-D rectangles.

:class:`PyBulletCollisionChecker` implements :class:`~envs.collision.CollisionChecker` with it:
the body poses of up to ``batch_size`` states are placed on the slots' boxes, one
``performCollisionDetection`` runs, and one ``getContactPoints`` reads every contact; a state
collides when one of its slot's boxes has a contact of negative distance (a penetration) with a
wall, or when a body's centre lies outside the map.

Conservative by a margin. Bullet's box-box test reports penetrations only (no contact at a positive
gap) and its geometry is off by about 1e-9 m (the placement of the box loses a little precision;
docs/platform.md, 'Box-box contacts: penetrations only, geometry off by about 1e-9 m'). So the
PyBullet car box is inflated by ``margin`` (default 1e-6 m = 1 um, a thousand times that error) on
every side: PyBullet never calls a pose free where the exact rectangle overlaps a wall, and it
agrees with the exact :class:`~envs.collision.AnalyticCollisionChecker` (for which touching is free)
everywhere except on poses that come within ``margin`` of a wall (grazing contact), which it calls
collisions.

The cost per pose is the Python-to-C call, not the geometry (docs/platform.md, 'The cost per pose is
the Python-to-C call'). The optional broad phase (:class:`ClearanceField`, on by default;
``scripts/bench_envs.py`` measures it, see docs/benchmarks.md, 'Collision checking') decides two
kinds of poses in numpy with exact certificates: a centre farther than the (inflated) body's
circumradius from every wall is free, and a centre closer than half the body's width to a wall,
inside a wall cell or outside the map is in collision (one field per body size; a state is free when
every body is, in collision when any body is). PyBullet decides every other state: the band near
wall boundaries where the answer depends on the heading (a minority of planner-like poses on the
benchmark maps).

Bullet keeps contact manifolds between detection passes; a car that had contacts is parked and
one more pass is run so that no stale contact carries over to its next pose (see ``_flush``).
One pose at a time goes through :meth:`PyBulletCollisionChecker.collides_pose` (no array work).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Sequence

import numpy as np
import pybullet as p

from envs.box_world import BoxWorld
from envs.collision import body_poses, single_body
from envs.footprint import CAR_FOOTPRINT, Bodies, Footprint, as_bodies
from envs.world import GridMap, World

MAX_LINKS = 127
"""Most links PyBullet accepts in one ``createMultiBody`` (more are dropped without an error)."""

WALL_HALF_HEIGHT = 0.5
CAR_HALF_HEIGHT = 0.1
PARK_Z = 100.0
"""Height (m) where unused car boxes wait, far above every wall; box ``k`` of slot ``j`` parks at
``PARK_Z + (j * K + k) * PARK_SPACING`` so that no two boxes ever overlap while parked (PyBullet
keeps pairs that overlapped before the collision filter was set)."""
PARK_SPACING = 1.0

_WALL_GROUP, _CAR_GROUP = 1, 2


def merge_wall_cells(grid: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cover the wall cells (value 1) of ``grid`` ``(H, W)`` with disjoint rectangles.

    Greedy: scan row-major; from each uncovered wall cell grow right as far as possible, then down
    while the whole row segment is uncovered wall. Returns ``(row0, col0, row1, col1)`` with
    exclusive ends; their union is exactly the set of wall cells.
    """
    g = np.asarray(grid) == 1
    covered = np.zeros_like(g)
    H, W = g.shape
    rects = []
    for r in range(H):
        for c in range(W):
            if not g[r, c] or covered[r, c]:
                continue
            c1 = c + 1
            while c1 < W and g[r, c1] and not covered[r, c1]:
                c1 += 1
            r1 = r + 1
            while r1 < H and g[r1, c:c1].all() and not covered[r1, c:c1].any():
                r1 += 1
            covered[r:r1, c:c1] = True
            rects.append((r, c, r1, c1))
    return rects


def _disconnect(client: int) -> None:
    # the client may already be gone (server closed); at interpreter shutdown p may be half torn down
    with contextlib.suppress(p.error, AttributeError, TypeError):
        p.disconnect(physicsClientId=client)


class PyBulletWorld:
    """A PyBullet scene of a grid world's walls and ``max_bodies`` robot slots of ``K`` car boxes
    each, one per body of ``bodies`` (one :class:`Footprint` or a sequence; module docstring).

    The car boxes are the bodies grown by ``margin`` metres on every side.

    Owns a ``p.DIRECT`` client; release it with :meth:`close` or ``with PyBulletWorld(...) as w``.
    Closing twice is harmless, and an unreachable world is closed by the garbage collector.
    """

    def __init__(
        self,
        world: World,
        bodies: Footprint | Sequence[Footprint] = CAR_FOOTPRINT,
        max_bodies: int = 256,
        *,
        margin: float = 0.0,
    ) -> None:
        self.bodies: Bodies = as_bodies(bodies)
        if max_bodies < 1:
            raise ValueError(f"max_bodies must be at least 1, got {max_bodies}")
        thinnest = min(b.width for b in self.bodies)
        if not (math.isfinite(margin) and 0.0 <= margin < 0.5 * thinnest):
            raise ValueError(f"margin must be a distance in [0, {0.5 * thinnest}) m, got {margin}")
        self.world = world
        #: robot slots (states placed per detection pass); each slot holds one box per body
        self.max_bodies = int(max_bodies)
        self.margin = float(margin)
        self.client = p.connect(p.DIRECT)
        if self.client < 0:
            raise RuntimeError("could not connect to a PyBullet DIRECT server")
        self._finalizer = weakref.finalize(self, _disconnect, self.client)
        self.boxworld = isinstance(world, BoxWorld)
        self.wall_rects = [] if self.boxworld else merge_wall_cells(world.grid)
        # every body centre is inside the map when PyBullet is asked, so no box reaches past the frame
        self.frame_thickness = max(world.cell_size, 2.0 * max(b.circumradius for b in self.bodies))
        self.wall_bodies: list[int] = []
        self._shapes: dict[tuple[float, float], int] = {}
        self._build_walls()
        #: ``(max_bodies, K)`` body ids: box ``k`` of slot ``j`` is body ``k`` of the footprint
        self.slot_bodies = self._make_cars()
        #: all car boxes, slot-major (``slot_bodies.ravel()``)
        self.car_bodies = self.slot_bodies.ravel()
        self.n_wall_boxes = len(world.boxes) + len(world.circles) if self.boxworld else len(self.wall_rects) + 4

    @property
    def footprint(self) -> Footprint:
        """The body of a one-body scene (``ValueError`` for several bodies)."""
        return single_body(self.bodies, "this PyBulletWorld")

    # ------------------------------------------------------------------ building
    def _box_shape(self, hx: float, hy: float, hz: float) -> int:
        key = (round(hx, 12), round(hy, 12), round(hz, 12))
        if key not in self._shapes:
            self._shapes[key] = p.createCollisionShape(
                p.GEOM_BOX, halfExtents=[hx, hy, hz], physicsClientId=self.client
            )
        return self._shapes[key]

    def wall_boxes(self) -> np.ndarray:
        """All wall boxes ``(B, 4)`` = (centre x, centre y, half x, half y) in metres, frame included
        (a BoxWorld: its boxes, no frame)."""
        if self.boxworld:
            b = self.world.boxes
            return np.column_stack([b[:, :2], 0.5 * b[:, 2:]]).reshape(-1, 4)
        w, s = self.world, self.world.cell_size
        boxes = []
        for r0, c0, r1, c1 in self.wall_rects:
            x0, x1 = c0 * s - w.width_m / 2, c1 * s - w.width_m / 2
            y1, y0 = w.height_m / 2 - r0 * s, w.height_m / 2 - r1 * s
            boxes.append(((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2))
        t = self.frame_thickness
        hw, hh = w.width_m / 2, w.height_m / 2
        boxes += [
            (0.0, hh + t / 2, hw + t, t / 2),  # top, covers the corners
            (0.0, -hh - t / 2, hw + t, t / 2),  # bottom
            (-hw - t / 2, 0.0, t / 2, hh),  # left
            (hw + t / 2, 0.0, t / 2, hh),  # right
        ]
        return np.array(boxes, dtype=float)

    def _build_walls(self) -> None:
        walls = [(self._box_shape(hx, hy, WALL_HALF_HEIGHT), x, y) for x, y, hx, hy in self.wall_boxes()]
        if self.boxworld:
            walls += [(p.createCollisionShape(p.GEOM_SPHERE, radius=float(r), physicsClientId=self.client), x, y)
                      for x, y, r in self.world.circles]
        for start in range(0, len(walls), MAX_LINKS):
            chunk = walls[start : start + MAX_LINKS]
            n = len(chunk)
            shapes = [shape for shape, _, _ in chunk]
            body = p.createMultiBody(
                baseMass=0,
                baseCollisionShapeIndex=-1,
                basePosition=[0, 0, 0],
                linkMasses=[0] * n,
                linkCollisionShapeIndices=shapes,
                linkVisualShapeIndices=[-1] * n,
                linkPositions=[[float(x), float(y), 0.0] for _, x, y in chunk],
                linkOrientations=[[0, 0, 0, 1]] * n,
                linkInertialFramePositions=[[0, 0, 0]] * n,
                linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
                linkParentIndices=[0] * n,
                linkJointTypes=[p.JOINT_FIXED] * n,
                linkJointAxis=[[0, 0, 1]] * n,
                physicsClientId=self.client,
            )
            if p.getNumJoints(body, physicsClientId=self.client) != n:
                raise RuntimeError(
                    f"PyBullet built {p.getNumJoints(body, physicsClientId=self.client)} of {n} wall links"
                )
            for link in range(-1, n):
                p.setCollisionFilterGroupMask(body, link, _WALL_GROUP, _CAR_GROUP, physicsClientId=self.client)
            self.wall_bodies.append(body)

    def park_position(self, slot: int, body: int = 0) -> list[float]:
        """Where box ``body`` of robot slot ``slot`` waits while unused."""
        return [0.0, 0.0, PARK_Z + (slot * len(self.bodies) + body) * PARK_SPACING]

    def _make_cars(self) -> np.ndarray:
        m = self.margin
        ids = np.empty((self.max_bodies, len(self.bodies)), dtype=np.int64)
        for k, fp in enumerate(self.bodies):
            shape = self._box_shape(fp.half_length + m, fp.half_width + m, CAR_HALF_HEIGHT)
            made = p.createMultiBody(  # one call creates this body's box in every slot (faster than one each)
                baseMass=0,
                baseCollisionShapeIndex=shape,
                batchPositions=[self.park_position(j, k) for j in range(self.max_bodies)],
                physicsClientId=self.client,
            )
            made = np.atleast_1d(np.asarray(made, dtype=np.int64))
            if len(made) != self.max_bodies:
                raise RuntimeError(f"PyBullet created {len(made)} of {self.max_bodies} boxes of body {k}")
            ids[:, k] = made
        for body in ids.ravel().tolist():
            p.setCollisionFilterGroupMask(body, -1, _CAR_GROUP, _WALL_GROUP, physicsClientId=self.client)
        return ids

    # ------------------------------------------------------------------ lifetime
    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Disconnect the PyBullet client (idempotent)."""
        self._finalizer()

    def __enter__(self) -> PyBulletWorld:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"client {self.client}"
        return (
            f"PyBulletWorld({self.world.name!r}, {self.n_wall_boxes} wall boxes in {len(self.wall_bodies)} "
            f"bodies, {self.max_bodies} slots of {len(self.bodies)} car boxes, {state})"
        )


class ClearanceField:
    """Conservative broad phase: per pixel, bounds on the distance (m) from a point to the nearest wall.

    The map is cut into square pixels of ``cell_size / subdivisions``. Each pixel stores

    - ``lower``: the exact distance from the pixel *square* to the nearest wall cell, capped at one
      cell (cells outside the 3 x 3 neighbourhood are at least a cell away): a lower bound on the
      wall distance of every point in the pixel; -1 inside wall cells;
    - ``upper``: the distance from the pixel *centre* to the nearest wall cell plus half the pixel
      diagonal: an upper bound for every point in the pixel.

    A rectangle of circumradius ``radius`` centred in a pixel with ``lower > radius`` is free. One
    centred in a wall cell, outside the map, or in a pixel with ``upper < inner_radius`` (the
    radius of the rectangle's inscribed disc, half its width) overlaps a wall with positive area:
    the open disc reaches into a wall cell. Both answers are exact; the rest is "unknown".
    """

    def __init__(self, world: GridMap, radius: float, inner_radius: float = 0.0, subdivisions: int = 32) -> None:
        if subdivisions < 1 or not radius > 0 or not 0 <= inner_radius <= radius:
            raise ValueError(
                f"ClearanceField needs subdivisions >= 1 and 0 <= inner_radius <= radius, radius > 0; got "
                f"{subdivisions}, {inner_radius}, {radius}"
            )
        self.world = world
        self.radius = float(radius)
        self.inner_radius = float(inner_radius)
        self.n = n = int(subdivisions)
        H, W = world.shape
        s = world.cell_size
        self.pixel = s / n
        # the bounds of a pixel depend only on the wall pattern of its cell's 3 x 3 neighbourhood
        offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
        rows, cols = np.arange(H)[:, None], np.arange(W)[None, :]
        walls = np.stack([world.is_wall_cell(rows + dr, cols + dc) for dr, dc in offsets])  # (9, H, W)
        patterns, pattern_of = np.unique(walls.reshape(9, -1).T, axis=0, return_inverse=True)  # (U, 9), (H*W,)
        lo = np.arange(n) * self.pixel  # pixel squares [lo, lo + pixel] in cell-local coordinates (down, right)
        mid = lo + 0.5 * self.pixel

        def gap(a_lo, a_hi, d):  # distance along one axis from [a_lo, a_hi] to the neighbour cell [d*s, d*s+s]
            return np.maximum(0.0, np.maximum(d * s - a_hi, a_lo - (d * s + s)))

        d_sq = np.stack(
            [
                np.hypot(gap(lo, lo + self.pixel, dr)[:, None], gap(lo, lo + self.pixel, dc)[None, :])
                for dr, dc in offsets
            ]
        )
        d_pt = np.stack([np.hypot(gap(mid, mid, dr)[:, None], gap(mid, mid, dc)[None, :]) for dr, dc in offsets])
        lower = np.where(patterns[:, :, None, None], d_sq[None], s).min(axis=1)  # (U, n, n)
        upper = np.where(patterns[:, :, None, None], d_pt[None], s).min(axis=1) + self.pixel / math.sqrt(2)
        lower[patterns[:, 4]] = -1.0  # the cell itself is wall
        state = np.where(lower > self.radius, 1, np.where((lower < 0) | (upper < self.inner_radius), -1, 0))

        def tile(per_pattern):  # (U, n, n) -> (H*n, W*n), row-major like the grid
            return per_pattern[pattern_of].reshape(H, W, n, n).transpose(0, 2, 1, 3).reshape(H * n, W * n)

        #: (H*n, W*n) lower bounds (m), -1 inside walls
        self.lower = tile(lower.astype(np.float32))
        self._state = tile(state.astype(np.int8))

    def classify(self, poses: np.ndarray) -> np.ndarray:
        """``(N, >=2)`` -> ``(N,)`` int8: +1 certainly free, -1 certainly in collision, 0 unknown."""
        w = self.world
        px = (poses[:, 0] + w.width_m / 2) / self.pixel
        py = (w.height_m / 2 - poses[:, 1]) / self.pixel
        Hn, Wn = self._state.shape
        inside = (px >= 0) & (px < Wn) & (py >= 0) & (py < Hn)  # False for NaN too
        c = np.clip(np.floor(np.where(inside, px, 0)), 0, Wn - 1).astype(np.int64)
        r = np.clip(np.floor(np.where(inside, py, 0)), 0, Hn - 1).astype(np.int64)
        return np.where(inside, self._state[r, c], -1).astype(np.int8)

    def classify_one(self, x: float, y: float) -> int:
        """:meth:`classify` for one position, in plain Python (no array overhead)."""
        w = self.world
        px = (x + w.width_m / 2) / self.pixel
        py = (w.height_m / 2 - y) / self.pixel
        Hn, Wn = self._state.shape
        if not (0 <= px < Wn and 0 <= py < Hn):  # False for NaN too
            return -1
        return int(self._state[int(py), int(px)])

    def fraction_free(self) -> float:
        """Fraction of the free area (free cells) whose poses the broad phase clears."""
        free = np.repeat(np.repeat(self.world.grid == 0, self.n, 0), self.n, 1)
        return float((self._state[free] == 1).mean()) if free.any() else 0.0


DEFAULT_MARGIN = 1e-6
"""Inflation (m) of the PyBullet car box: a thousand times PyBullet's measured geometric error."""


class PyBulletCollisionChecker:
    """:class:`~envs.collision.CollisionChecker` answered by PyBullet (see the module docstring).

    ``bodies``: one :class:`Footprint` or a robot's bodies. The bodies of ``batch_size`` states are
    placed per ``performCollisionDetection``. ``broad_phase`` decides states whose body centres are
    all far from every wall boundary, or one inside a wall, in numpy first (exact certificates,
    only a shortcut).
    ``margin`` (m) makes PyBullet conservative: poses within it of a wall count as collisions.
    Close with :meth:`close` or use as a context manager; closing twice is harmless.
    """

    def __init__(
        self,
        world: World,
        bodies: Footprint | Sequence[Footprint] = CAR_FOOTPRINT,
        *,
        broad_phase: bool = True,
        batch_size: int = 256,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.world = world
        self.pybullet = PyBulletWorld(world, bodies, max_bodies=batch_size, margin=margin)
        self.bodies: Bodies = self.pybullet.bodies
        self.margin = self.pybullet.margin
        #: per body, its broad phase field (bodies of the same size share one), or None
        self.broad_phases: list[ClearanceField] | None = None
        self._bounded = not self.pybullet.boxworld  # a GridMap: a body centre outside the map collides
        if broad_phase and not self.pybullet.boxworld:  # the field is a grid map's
            fields: dict[Footprint, ClearanceField] = {}
            for b in self.bodies:
                if b not in fields:
                    fields[b] = ClearanceField(world, b.inflated(self.margin).circumradius, inner_radius=b.half_width)
            self.broad_phases = [fields[b] for b in self.bodies]
        self._cid = self.pybullet.client
        self._cars = self.pybullet.slot_bodies  # (slots, K)
        self._boxes: list[list[int]] = self._cars.tolist()  # the same, as Python ints for the per-box calls
        n_ids = int(max(self._cars.max(), max(self.pybullet.wall_bodies, default=0))) + 1
        self._slot = np.full(n_ids, -1, dtype=np.int64)  # body id -> robot slot, -1 if not a car box
        self._slot[self._cars] = np.arange(len(self._cars))[:, None]
        self._is_wall = np.zeros(n_ids, dtype=bool)
        self._is_wall[self.pybullet.wall_bodies] = True
        K = len(self.bodies)
        self._park = [[self.pybullet.park_position(j, k) for k in range(K)] for j in range(len(self._cars))]
        self._active = 0  # robot slots currently off their parking spots
        #: poses asked about, and poses handed to PyBullet (the rest the broad phase decided)
        self.n_queries = 0
        self.n_narrow = 0

    @property
    def batch_size(self) -> int:
        return self.pybullet.max_bodies

    @property
    def footprint(self) -> Footprint:
        """The body of a one-body checker (``ValueError`` for several bodies)."""
        return single_body(self.bodies, "this checker")

    @property
    def broad_phase(self) -> ClearanceField | None:
        """The broad phase field of a one-body checker (None when off); see :attr:`broad_phases`."""
        return None if self.broad_phases is None else self.broad_phases[0]

    def close(self) -> None:
        self.pybullet.close()

    def __enter__(self) -> PyBulletCollisionChecker:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def collides(self, poses: np.ndarray) -> np.ndarray:
        """Body poses ``(N, K, 3)`` (or, one body, poses ``(N, >=3)`` = (x, y, yaw, ...)) -> ``(N,)``
        bool, True where any body overlaps a wall.

        A state with a body centre outside the map (or not finite) collides.
        """
        poses = np.asarray(poses, dtype=float)
        if len(poses) == 1 and len(self.bodies) == 1 and poses.ndim == 2 and poses.shape[1] >= 3:
            return np.array([self.collides_pose(*poses[0, :3].tolist())])  # per-state callers (OMPL): no arrays
        poses = body_poses(poses, len(self.bodies))
        if len(poses) == 1 and len(self.bodies) == 1:
            return np.array([self.collides_pose(*poses[0, 0].tolist())])
        if self.pybullet.closed:
            raise RuntimeError("this PyBulletCollisionChecker has been closed")
        self.n_queries += len(poses)
        x_min, x_max, y_min, y_max = self.world.extent if self._bounded else (-np.inf, np.inf, -np.inf, np.inf)
        x, y = poses[..., 0], poses[..., 1]  # (N, K)
        inside = (np.isfinite(poses[..., 2]) & (x > x_min) & (x < x_max) & (y > y_min) & (y < y_max)).all(axis=1)
        out = ~inside
        if self.broad_phases is not None:
            state = np.stack([f.classify(poses[:, k]) for k, f in enumerate(self.broad_phases)], axis=1)  # (N, K)
            hit = (state == -1).any(axis=1)
            out |= hit
            todo = np.flatnonzero(inside & ~hit & ~(state == 1).all(axis=1))
        else:
            todo = np.flatnonzero(inside)
        self.n_narrow += len(todo)
        B = self.batch_size
        for start in range(0, len(todo), B):
            sel = todo[start : start + B]
            out[sel] = self._narrow(poses[sel])
        return out

    def collides_pose(self, x: float, y: float, yaw: float) -> bool:
        """One pose (m, m, rad) of a one-body checker -> True if in collision; same answer as
        :meth:`collides`, less overhead."""
        if len(self._boxes[0]) != 1:
            raise ValueError(f"collides_pose needs a one-body checker, this one has {len(self.bodies)}: use collides")
        if self.pybullet.closed:
            raise RuntimeError("this PyBulletCollisionChecker has been closed")
        self.n_queries += 1
        x_min, x_max, y_min, y_max = self.world.extent if self._bounded else (-math.inf, math.inf, -math.inf, math.inf)
        if not (x_min < x < x_max and y_min < y < y_max and math.isfinite(yaw)):
            return True
        if self.broad_phases is not None:
            state = self.broad_phases[0].classify_one(x, y)
            if state != 0:
                return state < 0
        self.n_narrow += 1
        cid = self._cid
        reset = p.resetBasePositionAndOrientation
        boxes = self._boxes
        car = boxes[0][0]
        reset(car, [x, y, 0.0], [0.0, 0.0, math.sin(0.5 * yaw), math.cos(0.5 * yaw)], physicsClientId=cid)
        for j in range(1, self._active):
            reset(boxes[j][0], self._park[j][0], [0.0, 0.0, 0.0, 1.0], physicsClientId=cid)
        self._active = 1
        p.performCollisionDetection(physicsClientId=cid)
        contacts = p.getContactPoints(physicsClientId=cid)
        if not contacts:
            return False
        hit = any(cp[8] < 0.0 and (cp[1] == car or cp[2] == car) for cp in contacts)
        self._flush(np.array([0]))
        return hit

    def _narrow(self, poses: np.ndarray) -> np.ndarray:
        """PyBullet on the body poses ``(n, K, 3)`` of at most ``batch_size`` states -> ``(n,)`` bool."""
        cid = self._cid
        n, K = poses.shape[:2]
        flat = poses.reshape(n * K, 3)  # slot-major, like the boxes
        half = 0.5 * flat[:, 2]
        zeros = np.zeros(n * K)
        pos = np.column_stack([flat[:, 0], flat[:, 1], zeros]).tolist()
        quat = np.column_stack([zeros, zeros, np.sin(half), np.cos(half)]).tolist()
        cars = self._cars[:n].ravel().tolist()
        reset = p.resetBasePositionAndOrientation
        for i in range(n * K):
            reset(cars[i], pos[i], quat[i], physicsClientId=cid)
        for j in range(n, self._active):  # park the slots this batch leaves unused
            for box, park in zip(self._boxes[j], self._park[j]):
                reset(box, park, [0.0, 0.0, 0.0, 1.0], physicsClientId=cid)
        self._active = n
        p.performCollisionDetection(physicsClientId=cid)
        contacts = p.getContactPoints(physicsClientId=cid)
        hit = np.zeros(n, dtype=bool)
        if contacts:
            c = np.array([(cp[1], cp[2], cp[8]) for cp in contacts])
            a, b = c[:, 0].astype(np.int64), c[:, 1].astype(np.int64)
            car = np.where(self._is_wall[a], self._slot[b], np.where(self._is_wall[b], self._slot[a], -1))
            hit[car[(car >= 0) & (car < n) & (c[:, 2] < 0.0)]] = True
            self._flush(np.unique(car[car >= 0]))
        return hit

    def _flush(self, slots: np.ndarray) -> None:
        """Drop the contact points of the boxes of the robot slots ``slots``.

        Bullet keeps contact manifolds between detection passes and only re-validates old points
        (old local points under the new transforms, within a 2 cm breaking threshold): a car moved to
        a nearby pose can inherit a stale penetration from its previous pose (seen on about 1 in
        25,000 random poses). Parking those cars and running one more pass empties their manifolds.
        """
        cid = self._cid
        reset = p.resetBasePositionAndOrientation
        for j in slots.tolist():
            for box, park in zip(self._boxes[j], self._park[j]):
                reset(box, park, [0.0, 0.0, 0.0, 1.0], physicsClientId=cid)
        p.performCollisionDetection(physicsClientId=cid)

    def __repr__(self) -> str:
        return (
            f"PyBulletCollisionChecker({self.world.name!r}, bodies={len(self.bodies)}, "
            f"broad_phase={self.broad_phases is not None}, "
            f"batch_size={self.batch_size}, margin={self.margin})"
        )


def near_contact_poses(
    world: GridMap,
    n: int,
    rng: np.random.Generator,
    footprint: Footprint = CAR_FOOTPRINT,
    *,
    min_offset: float = 1e-5,
    max_offset: float = 3e-3,
) -> np.ndarray:
    """``n`` poses ``(n, 3)`` = (x, y, yaw) that graze walls, for cross-checking collision checkers.

    About half put a corner of the footprint at a signed distance ``offset`` (positive = clear)
    from a wall face that borders a free cell; the others put a side of the footprint at ``offset``
    from an end of such a face (a wall corner). ``|offset|`` is log-uniform in
    ``[min_offset, max_offset]`` metres, the sign random; other walls may of course be hit too.
    """
    if not 0 < min_offset <= max_offset:
        raise ValueError(f"need 0 < min_offset <= max_offset, got {min_offset}, {max_offset}")
    s = world.cell_size
    free = world.free_cells()
    if len(free) == 0:
        raise ValueError(f"map {world.name!r} has no free cell")
    # (free cell, direction) pairs whose neighbour in that direction is wall; directions as (dr, dc)
    dirs = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])
    nb_wall = world.is_wall_cell(free[:, None, 0] + dirs[None, :, 0], free[:, None, 1] + dirs[None, :, 1])
    fi, di = np.nonzero(nb_wall)
    if len(fi) == 0:
        raise ValueError(f"map {world.name!r} has no wall next to a free cell")
    offset = np.exp(rng.uniform(np.log(min_offset), np.log(max_offset), n)) * rng.choice([-1.0, 1.0], n)
    yaw = rng.uniform(-np.pi, np.pi, n)
    c, sn = np.cos(yaw), np.sin(yaw)
    hl, hw = footprint.half_length, footprint.half_width
    pick = rng.integers(0, len(fi), n)
    cells, d = free[fi[pick]], dirs[di[pick]]
    centre = world.cell_to_xy(cells[:, 0], cells[:, 1])
    # unit normal of the shared face pointing from the free cell into the wall (x right, y up)
    nrm = np.column_stack([d[:, 1], -d[:, 0]]).astype(float)
    tangent = np.column_stack([-nrm[:, 1], nrm[:, 0]])
    face = centre + 0.5 * s * nrm
    along = rng.uniform(-0.5, 0.5, n) * s
    # (a) a footprint corner on the face: the footprint's extent along the normal
    ext = hl * np.abs(c * nrm[:, 0] + sn * nrm[:, 1]) + hw * np.abs(-sn * nrm[:, 0] + c * nrm[:, 1])
    pos_a = face + along[:, None] * tangent - (ext - offset)[:, None] * nrm
    # (b) a footprint side on an end point of the face (a wall corner when the face ends there)
    end = face + rng.choice([-0.5, 0.5], n)[:, None] * s * tangent
    side = rng.integers(0, 4, n)  # which side of the footprint faces the corner
    ang = yaw + side * (np.pi / 2)
    sn_out = np.column_stack([np.cos(ang), np.sin(ang)])  # outward normal of that side
    half_n = np.where(side % 2 == 0, hl, hw)
    half_t = np.where(side % 2 == 0, hw, hl)
    slide = rng.uniform(-1, 1, n) * half_t
    side_t = np.column_stack([-sn_out[:, 1], sn_out[:, 0]])
    pos_b = end - (half_n - offset)[:, None] * sn_out + slide[:, None] * side_t
    use_a = rng.random(n) < 0.5
    pos = np.where(use_a[:, None], pos_a, pos_b)
    return np.column_stack([pos, yaw])
