"""Collision checking of a rectangular footprint against an occupancy grid, and checked rollouts.

Two checkers share the :class:`CollisionChecker` protocol:

- :class:`AnalyticCollisionChecker` (here): an exact separating-axis test of the oriented
  rectangle against every wall cell its bounding box touches, vectorised over poses.
- ``envs.pybullet_world.PyBulletCollisionChecker``: the same question asked of PyBullet.

The two are cross-checked in the tests. :func:`checked_rollout` propagates a batch of control
sequences and reports, per sequence, the first colliding step and the first step inside the
goal (a disc, or any goal region of ``envs.goal``); collision is checked at every ``dt`` step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from envs.footprint import CAR_FOOTPRINT, Footprint
from envs.world import GridMap


@runtime_checkable
class CollisionChecker(Protocol):
    """Answers "does the footprint at these poses overlap a wall?" for a batch of poses."""

    world: GridMap
    footprint: Footprint

    def collides(self, poses: np.ndarray) -> np.ndarray:
        """Poses ``(N, >=3)`` = (x, y, yaw, ...) -> ``(N,)`` bool, True where in collision."""
        ...


class AnalyticCollisionChecker:
    """Exact rectangle-versus-grid test (separating axis theorem), vectorised over poses.

    Touching a wall (zero-area overlap) counts as free. Cells outside the map count as walls.
    """

    def __init__(self, world: GridMap, footprint: Footprint = CAR_FOOTPRINT) -> None:
        self.world = world
        self.footprint = footprint
        # number of cells the footprint's bounding box can span along one axis
        self._span = math.ceil(2 * footprint.circumradius / world.cell_size) + 1
        k = np.arange(self._span)
        self._dr, self._dc = (a.ravel() for a in np.meshgrid(k, k, indexing="ij"))

    def collides(self, poses: np.ndarray) -> np.ndarray:
        poses = np.asarray(poses, dtype=float)
        if poses.ndim != 2 or poses.shape[1] < 3:
            raise ValueError(f"poses must be (N, >=3), got {poses.shape}")
        w, fp = self.world, self.footprint
        s = w.cell_size
        h = 0.5 * s
        x, y = poses[:, 0:1], poses[:, 1:2]
        c, sn = np.cos(poses[:, 2:3]), np.sin(poses[:, 2:3])
        ac, asn = np.abs(c), np.abs(sn)
        ex = fp.half_length * ac + fp.half_width * asn  # AABB half extents
        ey = fp.half_length * asn + fp.half_width * ac
        col0 = np.floor((x - ex + w.width_m / 2) / s).astype(np.int64)
        row0 = np.floor((w.height_m / 2 - (y + ey)) / s).astype(np.int64)
        rows = row0 + self._dr  # (N, K)
        cols = col0 + self._dc
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
    """Propagate ``controls`` ``(N, T, 2)`` from ``x0`` ``(N, 6)`` and check states 1..T.

    The footprint is checked at every step (one batched query for all ``N*T`` states). The goal
    (``(2,)`` xy or ``(N, 2)`` with ``goal_radius``, or a goal region of ``envs.goal`` such as
    ``problem.goal_region``) is checked at every step too; a goal hit after a collision does not
    count.
    """
    x0 = np.asarray(x0, dtype=float)
    controls = np.asarray(controls, dtype=float)
    states = robot.rollout(x0, controls)
    N, T1, _ = states.shape
    coll = checker.collides(robot.pose(states[:, 1:].reshape(-1, states.shape[-1]))).reshape(N, T1 - 1)
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


def make_checker(world: GridMap, footprint: Footprint = CAR_FOOTPRINT, backend: str = "analytic") -> CollisionChecker:
    """A collision checker by name: ``"analytic"`` (exact SAT, fastest) or ``"pybullet"``.

    Planners search with the analytic checker by default and validate with PyBullet, so that
    every returned path is confirmed by an independent implementation.
    """
    if backend == "analytic":
        return AnalyticCollisionChecker(world, footprint)
    if backend == "pybullet":
        from envs.pybullet_world import PyBulletCollisionChecker

        return PyBulletCollisionChecker(world, footprint)
    raise ValueError(f"unknown collision backend {backend!r}; choose 'analytic' or 'pybullet'")
