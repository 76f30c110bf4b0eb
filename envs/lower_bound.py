"""The reference duration of a problem: the grid geodesic from start to goal at the top speed.

``duration_lower_bound`` is the 8-connected grid geodesic (no corner cutting: a diagonal step
needs both orthogonal neighbours free) from the start cell's centre to the goal cell's centre,
minus the goal radius, driven at the robot's top speed. It is the denominator of
``duration_ratio`` = path duration / bound, the path-quality number every benchmark reports, and
the definition used by the published benchmark figures (the README.md of the ditree_car suite),
so ratios compare with them.

Caveat: an 8-connected grid path can be up to about 8% longer than the true any-angle shortest
path (e.g. 1 + sqrt(2) = 2.41 m against sqrt(5) = 2.24 m for a knight's move), so on open maps an
excellent path may score a ratio slightly below 1. It remains a tight, reproducible yardstick.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from envs.world import GridMap

_MOVES = ((-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0),
          (-1, -1, math.sqrt(2)), (-1, 1, math.sqrt(2)), (1, -1, math.sqrt(2)), (1, 1, math.sqrt(2)))


def grid_distances(world: GridMap, source: tuple[int, int]) -> np.ndarray:
    """8-connected geodesic distances (m, cell centre to cell centre, no corner cutting) from
    ``source`` (row, col) to every cell; ``inf`` for walls and unreachable cells. Dijkstra."""
    H, W = world.shape
    g = world.grid
    dist = np.full((H, W), np.inf)
    r0, c0 = source
    if not world.in_bounds(r0, c0) or g[r0, c0]:
        raise ValueError(f"source cell {source} is outside map {world.name!r} or a wall")
    dist[r0, c0] = 0.0
    heap = [(0.0, r0, c0)]
    while heap:
        d, r, c = heapq.heappop(heap)
        if d > dist[r, c]:
            continue
        for dr, dc, w in _MOVES:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < H and 0 <= nc < W) or g[nr, nc]:
                continue
            if dr and dc and (g[r + dr, c] or g[r, c + dc]):
                continue  # no corner cutting
            nd = d + w
            if nd < dist[nr, nc]:
                dist[nr, nc] = nd
                heapq.heappush(heap, (nd, nr, nc))
    return dist * world.cell_size


def geodesic_distance(world: GridMap, start_cell: tuple[int, int], goal_cell: tuple[int, int]) -> float:
    """Grid geodesic (m) between two cells' centres; ``inf`` if unreachable."""
    return float(grid_distances(world, start_cell)[goal_cell])


def duration_lower_bound(problem) -> float:
    """Lower bound (s) on the duration of any path solving ``problem``:
    max(geodesic - goal radius, 0) / top speed. ``inf`` if the goal cell is unreachable."""
    d = geodesic_distance(problem.world, problem.start_cell, problem.goal_cell)
    top = getattr(problem.robot.params, "top_speed", None)
    if not top:
        raise ValueError(f"robot {problem.robot!r} has no top_speed parameter")
    return max(d - problem.goal_radius, 0.0) / top
