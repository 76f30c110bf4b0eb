"""Collision checking of a robot's rectangular bodies against an occupancy grid, and checked rollouts.

A robot's footprint is ``K`` rectangles (``robot.bodies``) posed by ``robot.footprint_poses(states)``
``(..., K, 3)`` (see ``envs.footprint``). A checker is built for the bodies and answers, per state,
whether ANY body overlaps a wall. Two checkers share the :class:`CollisionChecker` protocol:

- :class:`AnalyticCollisionChecker` (here): an exact separating-axis test of each oriented
  rectangle against every wall cell its bounding box touches, vectorised over poses; in a
  :class:`~envs.box_world.BoxWorld`, against every box (separating axes) and circle (closest point
  of the rectangle), broadcast over poses x obstacles.
- ``envs.pybullet_world.PyBulletCollisionChecker``: the same question asked of PyBullet.

The two are cross-checked in the tests. Checkers know only walls: bodies of one robot never
collide with each other there. :func:`robot_collides` goes from robot states to collision flags
(walls, plus the body pairs a robot lists in ``self_collision_pairs``, none by default); every
planner, the validator and :func:`checked_rollout` go through it, so every body is checked.
:func:`checked_rollout` propagates a batch of control sequences and reports, per sequence, the
first colliding step and the first step inside the goal (a disc, or any goal region of
``envs.goal``); collision is checked at every ``dt`` step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.box_world import BoxWorld
from envs.footprint import CAR_FOOTPRINT, Bodies, Footprint, as_bodies
from envs.world import World


@runtime_checkable
class CollisionChecker(Protocol):
    """Answers "does any body of the footprint, at these poses, overlap a wall?" for a batch."""

    world: World
    bodies: Bodies

    def collides(self, poses: np.ndarray) -> np.ndarray:
        """Body poses ``(N, K, 3)`` = (x, y, yaw) of each of the ``K`` bodies -> ``(N,)`` bool, True
        where any body overlaps a wall. A one-body checker also takes poses ``(N, >=3)``."""
        ...


def body_poses(poses: np.ndarray, n_bodies: int) -> np.ndarray:
    """Check and normalise poses for a checker of ``n_bodies`` bodies -> ``(N, K, 3)`` float (a view
    where possible). Accepts ``(N, K, 3)``, and ``(N, >=3)`` (x, y, yaw, ...) when ``K == 1``."""
    poses = np.asarray(poses, dtype=float)
    if poses.ndim == 3 and poses.shape[1:] == (n_bodies, 3):
        return poses
    if poses.ndim == 2 and n_bodies == 1 and poses.shape[1] >= 3:
        return poses[:, None, :3]
    alt = " or (N, >=3)" if n_bodies == 1 else ""
    raise ValueError(f"poses must be (N, {n_bodies}, 3) body poses{alt}, got {poses.shape}")


def single_body(bodies: Bodies, owner: str) -> Footprint:
    """The one body of a single-body footprint; ``ValueError`` naming ``owner`` for ``K > 1``."""
    if len(bodies) != 1:
        raise ValueError(f"{owner} has {len(bodies)} bodies, not one footprint: use .bodies")
    return bodies[0]


class AnalyticCollisionChecker:
    """Exact rectangle-versus-obstacle test (separating axis theorem), vectorised over poses.

    ``bodies``: one :class:`Footprint` or a sequence of them (a multi-body robot). Touching a wall
    (zero-area overlap) counts as free. In a :class:`GridMap` cells outside the map count as walls;
    in a :class:`~envs.box_world.BoxWorld` only its boxes and circles are obstacles (its ``bounds``
    restrict the reference point, which :func:`robot_collides` checks).
    """

    def __init__(self, world: World, bodies: Footprint | Sequence[Footprint] = CAR_FOOTPRINT) -> None:
        self.world = world
        self.bodies: Bodies = as_bodies(bodies)
        self._boxworld = isinstance(world, BoxWorld)
        # per body: cell offsets (rows, cols) covering its bounding box at any heading
        self._offsets = [] if self._boxworld else [self._cell_offsets(b) for b in self.bodies]

    def _cell_offsets(self, fp: Footprint) -> tuple[np.ndarray, np.ndarray]:
        span = math.ceil(2 * fp.circumradius / self.world.cell_size) + 1  # cells the bounding box can span
        k = np.arange(span)
        dr, dc = (a.ravel() for a in np.meshgrid(k, k, indexing="ij"))
        return dr, dc

    @property
    def footprint(self) -> Footprint:
        """The body of a one-body checker (``ValueError`` for several bodies)."""
        return single_body(self.bodies, "this checker")

    def collides(self, poses: np.ndarray) -> np.ndarray:
        poses = np.asarray(poses, dtype=float)
        if poses.ndim == 2 and len(self.bodies) == 1:  # one body, (N, >=3): the car's hot path
            if poses.shape[1] < 3:
                raise ValueError(f"poses must be (N, 1, 3) body poses or (N, >=3), got {poses.shape}")
            return self._collides_body(0, poses)
        bp = body_poses(poses, len(self.bodies))
        out = self._collides_body(0, bp[:, 0])
        for k in range(1, len(self.bodies)):
            out |= self._collides_body(k, bp[:, k])
        return out

    def _collides_body(self, k: int, poses: np.ndarray) -> np.ndarray:
        """Body ``k`` at poses ``(N, >=3)`` -> ``(N,)`` bool."""
        if self._boxworld:
            return rectangle_hits_obstacles(self.bodies[k], poses, self.world.boxes, self.world.circles)
        w, fp = self.world, self.bodies[k]
        dr, dc = self._offsets[k]
        s = w.cell_size
        h = 0.5 * s
        x, y = poses[:, 0:1], poses[:, 1:2]
        c, sn = np.cos(poses[:, 2:3]), np.sin(poses[:, 2:3])
        ac, asn = np.abs(c), np.abs(sn)
        ex = fp.half_length * ac + fp.half_width * asn  # AABB half extents
        ey = fp.half_length * asn + fp.half_width * ac
        col0 = np.floor((x - ex + w.width_m / 2) / s).astype(np.int64)
        row0 = np.floor((w.height_m / 2 - (y + ey)) / s).astype(np.int64)
        rows = row0 + dr  # (N, cells)
        cols = col0 + dc
        wall = w.is_wall_cell(rows, cols)
        bx = (cols + 0.5) * s - w.width_m / 2
        by = w.height_m / 2 - (rows + 0.5) * s
        dx, dy = bx - x, by - y
        proj = h * (ac + asn)
        overlap = (
            (np.abs(dx) < ex + h)
            & (np.abs(dy) < ey + h)
            & (np.abs(dx * c + dy * sn) < fp.half_length + proj)
            & (np.abs(-dx * sn + dy * c) < fp.half_width + proj)
        )
        return np.any(wall & overlap, axis=1)


def rectangle_hits_obstacles(fp: Footprint, poses: np.ndarray, boxes: np.ndarray, circles: np.ndarray) -> np.ndarray:
    """Does rectangle ``fp`` at poses ``(N, >=3)`` overlap (positive area) any axis-aligned box of
    ``boxes`` ``(B, 4)`` = (cx, cy, full sx, full sy) or circle of ``circles`` ``(M, 3)`` = (cx, cy, r)?
    -> ``(N,)`` bool. Boxes: separating axes (the two world axes and the rectangle's two); circles:
    the rectangle's closest point to the centre. Touching counts as free."""
    x, y = poses[:, 0:1], poses[:, 1:2]
    c, sn = np.cos(poses[:, 2:3]), np.sin(poses[:, 2:3])
    ac, asn = np.abs(c), np.abs(sn)
    hl, hw = fp.half_length, fp.half_width
    hit = np.zeros(len(poses), dtype=bool)
    if len(boxes):
        bx, by = 0.5 * boxes[:, 2], 0.5 * boxes[:, 3]  # (B,)
        dx, dy = boxes[:, 0] - x, boxes[:, 1] - y  # (N, B)
        overlap = (
            (np.abs(dx) < hl * ac + hw * asn + bx)
            & (np.abs(dy) < hl * asn + hw * ac + by)
            & (np.abs(dx * c + dy * sn) < hl + bx * ac + by * asn)
            & (np.abs(-dx * sn + dy * c) < hw + bx * asn + by * ac)
        )
        hit |= overlap.any(axis=1)
    if len(circles):
        dx, dy = circles[:, 0] - x, circles[:, 1] - y
        lx, ly = dx * c + dy * sn, -dx * sn + dy * c  # circle centre in the rectangle's frame
        ex, ey = lx - np.clip(lx, -hl, hl), ly - np.clip(ly, -hw, hw)
        hit |= (ex * ex + ey * ey < circles[:, 2] ** 2).any(axis=1)
    return hit


def rectangles_overlap(a: Footprint, pose_a: np.ndarray, b: Footprint, pose_b: np.ndarray) -> np.ndarray:
    """Do rectangles ``a`` at ``pose_a`` ``(N, 3)`` and ``b`` at ``pose_b`` ``(N, 3)`` overlap with
    positive area? -> ``(N,)`` bool (separating axis theorem; touching counts as apart)."""
    ca, sa = np.cos(pose_a[:, 2]), np.sin(pose_a[:, 2])
    cb, sb = np.cos(pose_b[:, 2]), np.sin(pose_b[:, 2])
    dx, dy = pose_b[:, 0] - pose_a[:, 0], pose_b[:, 1] - pose_a[:, 1]
    apart = np.zeros(len(dx), dtype=bool)
    for ux, uy in ((ca, sa), (-sa, ca), (cb, sb), (-sb, cb)):
        ra = a.half_length * np.abs(ux * ca + uy * sa) + a.half_width * np.abs(-ux * sa + uy * ca)
        rb = b.half_length * np.abs(ux * cb + uy * sb) + b.half_width * np.abs(-ux * sb + uy * cb)
        apart |= np.abs(dx * ux + dy * uy) >= ra + rb
    return ~apart


def robot_collides(robot, checker: CollisionChecker, states: np.ndarray) -> np.ndarray:
    """Robot states ``(..., S)`` -> ``(...)`` bool: True where any of the robot's bodies
    (``robot.footprint_poses``) overlaps a wall (``checker``, built for ``K`` bodies of the robot's
    shape, possibly inflated), where the reference point (x, y) leaves a world's
    ``contains_reference`` region (a BoxWorld's ``bounds``), or where a body pair the robot lists in ``self_collision_pairs``
    overlaps (robots list none by default: bodies of one robot do not collide with each other).
    """
    states = np.asarray(states, dtype=float)
    lead = states.shape[:-1]
    poses = np.asarray(robot.footprint_poses(states), dtype=float)
    K = poses.shape[-2]
    if len(checker.bodies) != K:
        raise ValueError(
            f"robot {getattr(robot, 'name', robot)!r} has {K} bodies but the checker has {len(checker.bodies)}"
        )
    flat = poses.reshape(-1, K, 3)
    hit = np.asarray(checker.collides(flat), dtype=bool)
    contains = getattr(checker.world, "contains_reference", None)  # a BoxWorld bounds the reference point
    if contains is not None and len(flat):
        hit = hit | ~contains(states.reshape(-1, states.shape[-1])[:, :2])
    pairs = getattr(robot, "self_collision_pairs", ())
    if pairs and len(flat):
        for i, j in pairs:
            hit = hit | rectangles_overlap(robot.bodies[i], flat[:, i], robot.bodies[j], flat[:, j])
    return hit.reshape(lead)


@dataclass(frozen=True)
class RolloutCheck:
    """Result of :func:`checked_rollout` for ``N`` sequences of ``T`` controls.

    ``states`` ``(N, T+1, 6)``; ``first_collision`` ``(N,)``: index (1..T) of the first colliding
    state, -1 if none; ``first_goal`` ``(N,)``: index of the first state within the goal radius
    *before* any collision, -1 if none.
    """

    states: np.ndarray
    first_collision: np.ndarray
    first_goal: np.ndarray

    @property
    def valid_length(self) -> np.ndarray:
        """Per sequence, the number of controls whose resulting states are collision-free and not
        past the goal: the usable prefix length (0..T)."""
        T = self.states.shape[1] - 1
        end = np.where(self.first_collision >= 0, self.first_collision - 1, T)
        return np.where(self.first_goal >= 0, np.minimum(end, self.first_goal), end)


def first_true(mask: np.ndarray, offset: int = 0) -> np.ndarray:
    """Index of the first True along axis 1 of ``(N, T)`` plus ``offset``; -1 where none."""
    any_ = mask.any(axis=1)
    return np.where(any_, mask.argmax(axis=1) + offset, -1)


def checked_rollout(
    robot,
    checker: CollisionChecker,
    x0: np.ndarray,
    controls: np.ndarray,
    goal: np.ndarray | Any | None = None,
    goal_radius: float = 0.5,
) -> RolloutCheck:
    """Propagate ``controls`` ``(N, T, C)`` from ``x0`` ``(N, S)`` and check states 1..T.

    Every body of the footprint is checked at every step (:func:`robot_collides`; one batched query
    for all ``N*T`` states). The goal (``(2,)`` xy or ``(N, 2)`` with ``goal_radius``, or a goal
    region of ``envs.goal`` such as ``problem.goal_region``) is checked at every step too; a goal
    hit after a collision does not count.
    """
    x0 = np.asarray(x0, dtype=float)
    controls = np.asarray(controls, dtype=float)
    states = robot.rollout(x0, controls)
    N = states.shape[0]
    coll = robot_collides(robot, checker, states[:, 1:])
    first_coll = first_true(coll, offset=1)
    if goal is None:
        first_goal = np.full(N, -1, dtype=np.int64)
    else:
        if hasattr(goal, "reached"):  # a goal region (envs.goal)
            inside = goal.reached(states[:, 1:])
        else:
            g = np.asarray(goal, dtype=float).reshape(-1, 1, 2)
            inside = np.sum((states[:, 1:, :2] - g) ** 2, axis=-1) <= goal_radius**2
        first_goal = first_true(inside, offset=1)
        first_goal = np.where((first_coll >= 0) & (first_goal > first_coll), -1, first_goal)
    return RolloutCheck(states, first_coll, first_goal)


def make_checker(
    world: World, bodies: Footprint | Sequence[Footprint] = CAR_FOOTPRINT, backend: str = "analytic"
) -> CollisionChecker:
    """A collision checker of ``bodies`` (one :class:`Footprint` or a robot's ``bodies``) by name:
    ``"analytic"`` (exact SAT, fastest) or ``"pybullet"``.

    Planners search with the analytic checker by default and validate with PyBullet, so that
    every returned path is confirmed by an independent implementation.
    """
    if backend == "analytic":
        return AnalyticCollisionChecker(world, bodies)
    if backend == "pybullet":
        from envs.pybullet_world import PyBulletCollisionChecker

        return PyBulletCollisionChecker(world, bodies)
    raise ValueError(f"unknown collision backend {backend!r}; choose 'analytic' or 'pybullet'")


def substates(states: np.ndarray, substeps: int, angle_indices: tuple[int, ...]) -> np.ndarray:
    """States ``(T+1, S)`` -> ``(T, substeps, S)`` linearly interpolated strictly between
    consecutive ones (the angles in ``angle_indices`` along their shorter way round; not wrapped)."""
    a, b = states[:-1], states[1:]
    d = b - a
    idx = list(angle_indices)
    d[:, idx] = (d[:, idx] + math.pi) % (2 * math.pi) - math.pi
    frac = np.arange(1, substeps + 1) / (substeps + 1)
    return a[:, None, :] + frac[None, :, None] * d[:, None, :]


def colliding_steps(robot, checker: CollisionChecker, states: np.ndarray, substeps: int = 4) -> np.ndarray:
    """``(T,)`` bool for a path of states ``(T+1, S)``: step k collides at its end state or at one
    of ``substeps`` states interpolated between its two states (:func:`substates`), every body
    checked (:func:`robot_collides`). A planner checks the stored states; this also sweeps between
    them, as a benchmark with coarse steps (dynobench's 0.1 s) may ask."""
    states = np.asarray(states, dtype=float)
    if len(states) < 2:
        return np.zeros(0, dtype=bool)
    sub = substates(states, substeps, robot.angle_indices)
    hit_sub = robot_collides(robot, checker, sub.reshape(-1, robot.state_dim)).reshape(sub.shape[:2]).any(axis=1)
    return hit_sub | robot_collides(robot, checker, states[1:])
