"""Admissible lower bounds on the time to reach the goal, from grid geodesics: :class:`CostToGo`,
and the pruning of tree nodes that can no longer beat a path of a given duration
(:func:`prune_dominated`). Used by :class:`planners.anytime.AnytimeRRT` for pruning, informed
sampling and aiming down the geodesic (:class:`planners.aiming.AimedSampler`)."""

from __future__ import annotations

import math

import numpy as np

from envs.lower_bound import grid_distances
from envs.problem import Problem
from planners.tree import Tree

GRID_STRETCH = 1.0 / math.cos(math.pi / 8)
"""Largest ratio of an 8-connected grid path to the straight segment it approximates (~1.082)."""

_MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)])


class CostToGo:
    """Admissible time bounds (s) from the grid geodesic fields of the start and goal cells.

    ``to_goal(xy)``: no path from a point ``xy`` ``(N, 2)`` reaches the goal region sooner than
    ``max(|xy - goal| - r, d_goal(cell) / GRID_STRETCH - s / sqrt(2) - r, 0) / top_speed``, where
    ``r`` is ``problem.goal_radius`` (every goal state lies within it of the goal position, for a
    state goal too), 
    ``d_goal`` is the 8-connected geodesic (no corner cutting, which the car's footprint cannot do
    either) from the point's cell centre to the goal cell centre, ``s / sqrt(2)`` the farthest a
    point lies from its cell centre, and ``top_speed`` the car's terminal speed. ``kind="euclid"``
    uses the straight-line term only. The geodesic runs through cell centres, but the car may hug
    walls: in a winding corridor a real path can be much shorter (docs/benchmarks.md,
    'ditree-star'), so the grid term is further multiplied by ``scale`` (0.75). A bound that were
    still too high somewhere would cost optimality, never validity (every path is checked step by
    step).

    ``next_cell``: for each cell, its downhill neighbour towards the goal (the goal cell maps to
    itself): :meth:`downhill` follows it to give targets along the geodesic.
    """

    def __init__(self, problem: Problem, kind: str = "geodesic", scale: float = 0.75) -> None:
        if kind not in ("geodesic", "euclid"):
            raise ValueError(f"CostToGo kind must be 'geodesic' or 'euclid', got {kind!r}")
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"CostToGo scale must lie in (0, 1], got {scale}")
        self.kind = kind
        self.scale = float(scale)
        self.problem = problem
        world = problem.world
        top = problem.robot.top_speed
        if not top or not top > 0:
            raise ValueError(f"robot {problem.robot!r} has no positive top_speed")
        self.top_speed = float(top)
        self.slack = world.cell_size / math.sqrt(2.0)
        self.d_goal = grid_distances(world, problem.goal_cell)  # (H, W) m
        self.d_start = grid_distances(world, problem.start_cell)
        self.next_cell = self._downhill_table(world.grid, self.d_goal, problem.goal_cell)

    @staticmethod
    def _downhill_table(grid: np.ndarray, dist: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
        """``(H, W, 2)`` neighbour with the smallest geodesic, no corner cutting; self where none."""
        H, W = grid.shape
        rr, cc = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
        best = dist.copy()
        nxt = np.stack([rr, cc], axis=-1)
        pad = np.pad(dist, 1, constant_values=np.inf)
        wall = np.pad(grid.astype(bool), 1, constant_values=True)
        for dr, dc in _MOVES:
            d = pad[1 + dr : 1 + dr + H, 1 + dc : 1 + dc + W]
            if dr and dc:  # a diagonal step needs both orthogonal neighbours free
                blocked = wall[1 + dr : 1 + dr + H, 1 : 1 + W] | wall[1 : 1 + H, 1 + dc : 1 + dc + W]
                d = np.where(blocked, np.inf, d)
            better = d < best
            best = np.where(better, d, best)
            nxt[better] = np.stack([rr + dr, cc + dc], axis=-1)[better]
        nxt[goal] = goal
        return nxt

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rc = self.problem.world.xy_to_cell(xy)
        H, W = self.d_goal.shape
        return np.clip(rc[..., 0], 0, H - 1), np.clip(rc[..., 1], 0, W - 1)

    def to_goal(self, xy: np.ndarray) -> np.ndarray:
        """Lower bound (s) on the time from positions ``xy`` ``(N, 2)`` to the goal region ``(N,)``."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        r = self.problem.goal_radius
        h = np.linalg.norm(xy - self.problem.goal, axis=1) - r
        if self.kind == "geodesic":
            row, col = self._cells(xy)
            g = self.d_goal[row, col]
            g = np.where(np.isfinite(g), self.scale * g / GRID_STRETCH - self.slack - r, np.inf)
            h = np.maximum(h, g)
        return np.maximum(h, 0.0) / self.top_speed

    def informed_cells(self, bound_s: float) -> np.ndarray:
        """Free cells ``(K, 2)`` through which a path could still be faster than ``bound_s``."""
        lb_s = np.maximum(self.scale * self.d_start / GRID_STRETCH - self.slack, 0.0)
        lb_g = np.maximum(self.scale * self.d_goal / GRID_STRETCH - self.slack - self.problem.goal_radius, 0.0)
        if self.kind == "euclid":  # straight lines from the cell's nearest point
            rc = self.problem.world.free_cells()
            xy = self.problem.world.cell_to_xy(rc[:, 0], rc[:, 1])
            lb = (np.maximum(np.linalg.norm(xy - self.problem.start[:2], axis=1) - self.slack, 0)
                  + np.maximum(np.linalg.norm(xy - self.problem.goal, axis=1) - self.slack - self.problem.goal_radius, 0))
            return rc[lb / self.top_speed < bound_s]
        ok = np.isfinite(lb_s) & np.isfinite(lb_g) & ((lb_s + lb_g) / self.top_speed < bound_s)
        return np.argwhere(ok)

    def downhill(self, xy: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Targets ``(N, 2)``: the centre of the cell ``steps[i]`` moves down the geodesic from each
        point's cell; the goal itself once that reaches the goal cell."""
        return self.downhill_to_goal(xy, steps)[0]

    def downhill_to_goal(self, xy: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`downhill`'s targets ``(N, 2)`` and which of them are the goal ``(N,)`` bool (the
        walk reached the goal cell)."""
        row, col = self._cells(np.asarray(xy, dtype=float).reshape(-1, 2))
        steps = np.asarray(steps, dtype=np.int64)
        for k in range(int(steps.max(initial=0))):
            go = k < steps
            nr = self.next_cell[row, col, 0]
            nc = self.next_cell[row, col, 1]
            row, col = np.where(go, nr, row), np.where(go, nc, col)
        out = self.problem.world.cell_to_xy(row, col)
        at_goal = (row == self.problem.goal_cell[0]) & (col == self.problem.goal_cell[1])
        out[at_goal] = self.problem.goal
        return out, at_goal


def prune_dominated(tree: Tree, ctg: CostToGo, bound_s: float, keep: np.ndarray | None = None) -> int:
    """Deactivate every active node whose cost-to-come plus cost-to-go is not below ``bound_s``
    (they can no longer lead to a better path); nodes in ``keep`` stay. Returns how many."""
    active = tree.active
    idx = np.flatnonzero(active)
    if not len(idx):
        return 0
    f = tree.costs[idx] + ctg.to_goal(tree.states[idx, :2])
    dead = idx[f >= bound_s - 1e-9]
    if keep is not None and len(dead):
        dead = dead[~np.isin(dead, keep)]
    active[dead] = False  # Tree.active is a view of the node flags
    return len(dead)
