"""Lower bounds on how long any solution of a planning problem takes, and grid geodesics.

``duration_lower_bound(problem)`` is a true lower bound (s) on the duration of every path that
solves ``problem`` and passes validation. It is the denominator of ``duration_ratio`` = path
duration / bound, the path-quality number every benchmark reports, so a ratio is never below 1.

Why it is a lower bound. A validated path is a sequence of states ``dt`` apart, each with the
whole footprint clear of walls, so the footprint's inscribed disc (radius ``r`` = half the shorter
side) around every state's position is clear. Between two consecutive states the position moves
at most ``h = top_speed * dt``, so the straight segment joining them stays at least
``m = sqrt(r**2 - (h/2)**2)`` from every wall point (a point ``q`` at distance >= r from both ends
of a segment of length <= h is at distance >= m from the whole segment). Hence the polyline
through the path's positions lies in the free space with every wall grown by ``m``; it starts at
the start and ends inside the goal disc, so its length is at least the shortest such polyline,
and the path's duration ``T * dt >= length / top_speed``.

How it is computed (``free_space_distance_to_goal``). Each wall cell (and everything outside the
map) is grown to an octagon: the cell widened by ``m`` on each side with its corners cut at 45
degrees, which lies inside the cell grown by a disc of radius ``m`` (so the octagons block less than
the true grown walls: a shorter shortest path, still a lower bound). Shortest paths among polygons
bend only at obstacle corners, so a visibility graph over the octagon corners at the convex corners
of the wall union, plus the start and the goal, holds the shortest path. Visibility is tested on a
raster of the octagons whose pixels (``cell_size / RASTER_PER_CELL``) count as blocked only when
they lie wholly inside an octagon, sampled at half a pixel along each segment: a test that can only
wrongly call a segment free (and then only when it cuts a chord shorter than about a pixel through
blocked pixels), never wrongly blocked, so the graph never overestimates. The distance to the goal
disc is that to the goal's centre minus the goal radius (see ``free_space_distance_to_goal`` for
why).

In a :class:`~envs.box_world.BoxWorld` (``box_world_distance_to_goal``) the same argument runs on
exact geometry: each box grown by ``m`` is replaced by the 12-gon with corners on the grown box's
rounded corners (at 0, 45 and 90 degrees), each circle by the inscribed 16-gon of radius ``r + m``,
both inside the grown obstacles; the visibility graph over their corners (plus start and goal) is
built with an exact segment-versus-convex-polygon test (a segment is blocked only where it enters a
polygon's interior). Polygons that reach into the goal disc are dropped (fewer obstacles: shorter
paths, still a bound); the rest of the disc is then free and convex, so every point ``p`` of it sees
the centre and the distance to the disc is at least the shortest path to the centre minus
``goal_radius``. The world's ``bounds`` (on the reference point) are ignored, which only lowers the
bound.

``grid_distances`` / ``geodesic_distance``: the 8-connected grid geodesic between cell centres
(no corner cutting), used as a search heuristic and to test reachability. It is not a lower bound:
it runs through cell centres in 8 directions, and a path hugging the walls can be much shorter
(the duration bound published with the benchmark figures and used here until 2026-12-02 was this
geodesic; docs/benchmarks.md compares both per scenario).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from envs.box_world import BoxWorld
from envs.world import GridMap

_MOVES = ((-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0),
          (-1, -1, math.sqrt(2)), (-1, 1, math.sqrt(2)), (1, -1, math.sqrt(2)), (1, 1, math.sqrt(2)))

RASTER_PER_CELL = 32
"""Raster pixels per map cell side for the visibility test (finer: tighter bound, slower)."""
_SAMPLES_PER_CHUNK = 4_000_000


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


def clearance_margin(robot) -> float:
    """Distance (m) every segment between two consecutive states of a collision-free path keeps
    from the walls: ``sqrt(r**2 - (top_speed*dt/2)**2)``, ``r`` = half the footprint's shorter side."""
    fp = robot.footprint
    r = 0.5 * min(fp.length, fp.width)
    h = float(robot.top_speed) * float(robot.dt)
    return math.sqrt(max(r * r - 0.25 * h * h, 0.0))


class _Visibility:
    """The walls of one map grown to octagons by ``margin``: a blocked-pixel raster, the octagon
    corners a shortest path can bend at, and the visibility graph among those corners."""

    def __init__(self, world: GridMap, margin: float) -> None:
        s = float(world.cell_size)
        m = min(margin, 0.49 * s)  # a smaller margin only loosens the bound; keeps every cell centre free
        n = RASTER_PER_CELL
        self.pixel = s / n
        H, W = world.shape
        walls = np.ones((H + 2, W + 2), dtype=bool)  # one ring of wall: outside the map counts as wall
        walls[1:-1, 1:-1] = world.grid.astype(bool)
        # Padded cell (i, j) spans x in [(j-1)s - W s/2, j s - W s/2], y likewise from the top.
        self.x0 = -s - world.width_m / 2
        self.y_top = s + world.height_m / 2
        self.blocked = self._raster(walls, s, m, n)
        self.vertices = self._corner_vertices(walls, s, m)
        self.cell = s
        self.graph = self.visible(self.vertices, self.vertices, symmetric=True)

    def _raster(self, walls: np.ndarray, s: float, m: float, n: int) -> np.ndarray:
        """Pixels (row from the top, col from the left) wholly inside some wall octagon."""
        k = math.ceil(m / self.pixel) + 1
        # Pixel corners around one cell, relative to the cell centre: pixels -k .. n+k-1.
        edges = (np.arange(-k, n + k + 1) * self.pixel) - s / 2
        ax = np.abs(edges)
        half = s / 2 + m - 1e-9 * s
        inside = (ax[:, None] <= half) & (ax[None, :] <= half) & (ax[:, None] + ax[None, :] <= s + m - 1e-9 * s)
        stencil = inside[:-1, :-1] & inside[1:, :-1] & inside[:-1, 1:] & inside[1:, 1:]  # convex: 4 corners suffice
        Hp, Wp = walls.shape
        big = np.zeros((Hp * n + 2 * k, Wp * n + 2 * k), dtype=bool)
        for i, j in np.argwhere(walls):
            big[i * n:i * n + n + 2 * k, j * n:j * n + n + 2 * k] |= stencil
        return big[k:k + Hp * n, k:k + Wp * n]

    def _corner_vertices(self, walls: np.ndarray, s: float, m: float) -> np.ndarray:
        """``(V, 2)`` octagon corners (m) at the convex corners of the wall union (grid corners with
        exactly one wall among their four cells): the only places a shortest path bends."""
        tl, tr = walls[:-1, :-1], walls[:-1, 1:]
        bl, br = walls[1:, :-1], walls[1:, 1:]
        one = (tl.astype(int) + tr + bl + br) == 1
        ci, cj = np.nonzero(one)  # corner between padded rows ci, ci+1 and cols cj, cj+1
        qx = np.where(tr[ci, cj] | br[ci, cj], 1.0, -1.0)  # the wall lies towards +x or -x of the corner
        qy = np.where(tl[ci, cj] | tr[ci, cj], 1.0, -1.0)  # ... towards +y (the row above) or -y
        cx = self.x0 + (cj + 1) * s
        cy = self.y_top - (ci + 1) * s
        a = np.stack([cx - qx * m, cy], axis=-1)
        b = np.stack([cx, cy - qy * m], axis=-1)
        return np.concatenate([a, b]) if len(ci) else np.zeros((0, 2))

    def _free_points(self, xy: np.ndarray, blocked: np.ndarray, pixel: float) -> np.ndarray:
        col = np.floor((xy[:, 0] - self.x0) / pixel).astype(np.int64)
        row = np.floor((self.y_top - xy[:, 1]) / pixel).astype(np.int64)
        Hb, Wb = blocked.shape
        ok = (row >= 0) & (row < Hb) & (col >= 0) & (col < Wb)
        free = np.zeros(len(xy), dtype=bool)
        free[ok] = ~blocked[row[ok], col[ok]]
        return free

    def _levels(self) -> list[tuple[np.ndarray, float]]:
        """Coarse-to-fine blocked rasters (a coarse pixel is blocked only when all its fine pixels
        are), so most blocked segments are rejected with few samples."""
        if not hasattr(self, "_pyramid"):
            levels = [(self.blocked, self.pixel)]
            b, pixel = self.blocked, self.pixel
            while b.shape[0] % 4 == 0 and b.shape[1] % 4 == 0 and pixel * 4 <= 0.5 * self.cell + 1e-12:
                b = b.reshape(b.shape[0] // 4, 4, b.shape[1] // 4, 4).all(axis=(1, 3))
                pixel *= 4
                levels.append((b, pixel))
            self._pyramid = levels[::-1]
        return self._pyramid

    def _segments_free(self, pa: np.ndarray, pb: np.ndarray, blocked: np.ndarray, pixel: float,
                       spacing: float) -> np.ndarray:
        """Whether no sample (evenly, at most ``spacing`` apart, both ends included) of segments
        pa_i-pb_i lies in a blocked pixel."""
        ok = np.ones(len(pa), dtype=bool)
        steps = np.ceil(np.linalg.norm(pb - pa, axis=-1) / spacing).astype(np.int64) + 1
        start = 0
        while start < len(pa):  # chunks of segments with a bounded number of samples in all
            csum = np.cumsum(steps[start:])
            stop = start + max(1, int(np.searchsorted(csum, _SAMPLES_PER_CHUNK)))
            n = steps[start:stop]
            owner = np.repeat(np.arange(stop - start), n)
            first = np.cumsum(n) - n
            t = (np.arange(int(n.sum())) - first[owner]) / np.maximum(n[owner] - 1, 1)
            a, b = pa[start:stop][owner], pb[start:stop][owner]
            free = self._free_points(a + t[:, None] * (b - a), blocked, pixel)
            ok[start:stop] = np.logical_and.reduceat(free, first)
            start = stop
        return ok

    def visible(self, a: np.ndarray, b: np.ndarray, symmetric: bool = False) -> np.ndarray:
        """``(len(a), len(b))`` Euclidean lengths of the segments a_i-b_j that pass the visibility
        test, ``inf`` for blocked ones (``symmetric``: ``a is b``, test each pair once)."""
        out = np.full((len(a), len(b)), np.inf)
        if not len(a) or not len(b):
            return out
        if symmetric:
            ia, ib = np.triu_indices(len(a), k=1)
        else:
            ia, ib = (x.ravel() for x in np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij"))
        alive = np.arange(len(ia))
        levels = self._levels()
        # Sparse first passes on the coarsest raster rejects most blocked segments cheaply; only
        # rejections matter there, so it cannot let a blocked segment through.
        coarse, coarse_px = levels[0]
        passes = [(coarse, coarse_px, 8.0 * coarse_px), (coarse, coarse_px, 2.0 * coarse_px)]
        passes += [(b_, px, 0.5 * px) for b_, px in levels]
        for blocked, pixel, spacing in passes:
            keep = self._segments_free(a[ia[alive]], b[ib[alive]], blocked, pixel, spacing)
            alive = alive[keep]
        length = np.linalg.norm(b[ib[alive]] - a[ia[alive]], axis=-1)
        out[ia[alive], ib[alive]] = length
        if symmetric:
            out[ib[alive], ia[alive]] = length
            np.fill_diagonal(out, 0.0)
        return out


_VISIBILITY: dict[tuple, _Visibility] = {}
_BOUNDS: dict[tuple, float] = {}
_CACHE_SIZE = 64


def _cached(cache: dict, key: tuple, make):
    if key not in cache:
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))  # oldest first
        cache[key] = make()
    return cache[key]


def _visibility(world: GridMap, margin: float) -> _Visibility:
    key = (world.content_hash(), float(world.cell_size), round(float(margin), 12))
    return _cached(_VISIBILITY, key, lambda: _Visibility(world, margin))


def _dense_dijkstra(graph: np.ndarray, source: int) -> np.ndarray:
    """Shortest distances from ``source`` in a dense ``(N, N)`` graph (``inf`` = no edge)."""
    n = len(graph)
    dist = np.full(n, np.inf)
    dist[source] = 0.0
    done = np.zeros(n, dtype=bool)
    for _ in range(n):
        open_dist = np.where(done, np.inf, dist)
        u = int(np.argmin(open_dist))
        if not np.isfinite(open_dist[u]):
            break
        done[u] = True
        np.minimum(dist, dist[u] + graph[u], out=dist)
    return dist


def free_space_distance_to_goal(
    world: GridMap, start_xy, goal_xy, goal_radius: float, margin: float
) -> float:
    """Lower bound (m) on the length of every path from ``start_xy`` to the disc of ``goal_radius``
    around ``goal_xy`` that keeps ``margin`` from the walls (see the module docstring).

    It is ``max(G - goal_radius, 0)`` with ``G`` the shortest path to the goal centre among the
    octagons: when the goal is a free cell's centre and ``goal_radius <= cell_size / 2`` the disc
    lies in that cell, whose part outside the octagons is convex, so every point ``p`` of the disc a
    path can reach sees the centre and ``G <= path to p + goal_radius``. Otherwise (a larger radius
    or a goal off a cell centre) it falls back to the weaker ``min over graph nodes v of
    dist(v) + max(|v - goal| - goal_radius, 0)``. ``inf`` if no path exists in the graph."""
    vis = _visibility(world, margin)
    start = np.asarray(start_xy, dtype=float).reshape(1, 2)
    goal = np.asarray(goal_xy, dtype=float).reshape(1, 2)
    V = len(vis.vertices)
    ends = np.concatenate([start, goal])
    graph = np.full((V + 2, V + 2), np.inf)
    graph[2:, 2:] = vis.graph
    graph[:2, 2:] = vis.visible(ends, vis.vertices)
    graph[2:, :2] = graph[:2, 2:].T
    graph[0, 1] = graph[1, 0] = vis.visible(start, goal)[0, 0]
    dist = _dense_dijkstra(graph, 0)
    centre = world.cell_to_xy(*world.xy_to_cell(goal[0]))
    if goal_radius <= 0.5 * world.cell_size and np.allclose(centre, goal[0], atol=1e-9):
        return max(float(dist[1]) - goal_radius, 0.0)
    nodes = np.concatenate([ends, vis.vertices])
    to_goal = np.maximum(np.linalg.norm(nodes - goal, axis=-1) - goal_radius, 0.0)
    return float(np.min(dist + to_goal))


def segments_blocked(a: np.ndarray, b: np.ndarray, polygons: list[np.ndarray], eps: float = 1e-9) -> np.ndarray:
    """Do segments ``a`` -> ``b`` (``(P, 2)`` each) pass through the interior of any convex polygon
    (counter-clockwise ``(V, 2)`` vertices)? -> ``(P,)`` bool. Cyrus-Beck clipping; a segment that
    only touches a polygon's boundary (within ``eps`` m) is not blocked."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = b - a
    blocked = np.zeros(len(a), dtype=bool)
    for poly in polygons:
        e = np.roll(poly, -1, axis=0) - poly  # (V, 2) edges
        n = np.column_stack([e[:, 1], -e[:, 0]])
        n /= np.linalg.norm(n, axis=1, keepdims=True)  # outward unit normals (counter-clockwise polygon)
        # inside the edge's half-plane by more than eps: n . (a + t d - v) < -eps
        num = -eps - ((a[:, None, :] - poly[None]) * n[None]).sum(-1)  # (P, V): need t * den < num
        den = (d[:, None, :] * n[None]).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = num / den
        t_in = np.max(np.where(den < 0, t, -np.inf), axis=1)
        t_out = np.min(np.where(den > 0, t, np.inf), axis=1)
        parallel_out = np.any((den == 0) & (num <= 0), axis=1)  # parallel and never strictly inside
        lo, hi = np.maximum(t_in, 0.0), np.minimum(t_out, 1.0)
        blocked |= ~parallel_out & (lo < hi)
    return blocked


def box_world_distance_to_goal(world, start_xy, goal_xy, goal_radius: float, margin: float) -> float:
    """Lower bound (m) on the length of every path of the reference point from ``start_xy`` to the
    disc of ``goal_radius`` around ``goal_xy`` in a :class:`~envs.box_world.BoxWorld` keeping
    ``margin`` from every obstacle (module docstring); ``inf`` if the grown obstacles separate them."""
    start = np.asarray(start_xy, dtype=float).reshape(1, 2)
    goal = np.asarray(goal_xy, dtype=float).reshape(1, 2)
    polys = [q for q in world.obstacle_polygons(margin) if not _polygon_meets_disc(q, goal[0], goal_radius)]
    nodes = np.concatenate([start, goal, *polys]) if polys else np.concatenate([start, goal])
    V = len(nodes)
    i, j = np.triu_indices(V, k=1)
    free = ~segments_blocked(nodes[i], nodes[j], polys)
    graph = np.full((V, V), np.inf)
    length = np.linalg.norm(nodes[i] - nodes[j], axis=1)
    graph[i[free], j[free]] = length[free]
    graph[j[free], i[free]] = length[free]
    dist = _dense_dijkstra(graph, 0)
    return max(float(dist[1]) - goal_radius, 0.0)


def _polygon_meets_disc(poly: np.ndarray, centre: np.ndarray, radius: float) -> bool:
    """Does the convex counter-clockwise polygon ``(V, 2)`` come closer than ``radius`` to ``centre``
    (or contain it)?"""
    a, e = poly, np.roll(poly, -1, axis=0) - poly
    t = np.clip(((centre - a) * e).sum(-1) / (e * e).sum(-1), 0.0, 1.0)
    closest = np.min(np.linalg.norm(a + t[:, None] * e - centre, axis=-1))
    inside = np.all(e[:, 0] * (centre[1] - a[:, 1]) - e[:, 1] * (centre[0] - a[:, 0]) > 0)
    return bool(inside or closest < radius)


def duration_lower_bound(problem) -> float:
    """Lower bound (s) on the duration of any validated path solving ``problem``: the shortest
    path of the robot's position from the start to the goal disc through the free space with the
    walls grown by :func:`clearance_margin`, at the robot's top speed (see the module docstring).
    ``inf`` if the goal cell is unreachable. Cached per (map, start, goal, radius, robot)."""
    robot = problem.robot
    top = float(getattr(robot, "top_speed", 0.0) or 0.0)
    if not top > 0:
        raise ValueError(f"robot {robot!r} has no positive top_speed")
    start, goal = np.asarray(problem.start, dtype=float)[:2], np.asarray(problem.goal, dtype=float)[:2]
    world, margin = problem.world, clearance_margin(robot)
    if isinstance(world, BoxWorld):
        # the margin's disc is centred on the first body: it must sit on the reference point
        centre = np.asarray(robot.footprint_poses(np.asarray(problem.start, dtype=float)[None]))[0, 0, :2]
        margin = margin if np.allclose(centre, start, atol=1e-12) else 0.0
        key = (world.content_hash(), *start, *goal, float(problem.goal_radius), margin, top)
        return _cached(_BOUNDS, key, lambda: box_world_distance_to_goal(world, start, goal, problem.goal_radius,
                                                                         margin) / top)
    start_cell, goal_cell = problem.start_cell, problem.goal_cell
    key = (world.content_hash(), float(world.cell_size), *start, *goal, float(problem.goal_radius), margin, top)

    def compute() -> float:
        if not math.isfinite(geodesic_distance(world, start_cell, goal_cell)):
            return math.inf
        return free_space_distance_to_goal(world, start, goal, problem.goal_radius, margin) / top

    return _cached(_BOUNDS, key, compute)
