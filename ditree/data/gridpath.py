"""Grid shortest paths and their smoothing into drivable reference curves for the expert.

- :class:`GridPaths`: all-pairs shortest paths over the free cells of a :class:`GridMap`,
  8-connected without corner cutting (a diagonal step needs both orthogonal neighbours free, so a
  diagonal runs through a 2 x 2 free block and keeps half a cell of clearance from every wall; in
  1-cell corridors it reduces to 4-connectivity).
- :func:`round_corners`: replaces each polyline vertex by a circular arc of a chosen radius (capped
  so that arcs never overlap), which keeps the curve inside the union of the path's cells.
- :func:`resample`: a polyline resampled at a uniform arc-length step, with headings and curvature.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from envs.world import GridMap

_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


class GridPaths:
    """All-pairs grid shortest paths (cell centre to cell centre) over a map's free cells.

    ``diagonal=False`` gives 4-connectivity. Distances are in metres.
    """

    def __init__(self, world: GridMap, diagonal: bool = True) -> None:
        self.world = world
        g = world.grid
        H, W = g.shape
        self.cells = world.free_cells()  # (K, 2) row, col
        index = np.full((H, W), -1, dtype=np.int64)
        index[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        self._index = index
        src, dst, wt = [], [], []
        for dr, dc in _MOVES if diagonal else _MOVES[:4]:
            r, c = self.cells[:, 0], self.cells[:, 1]
            nr, nc = r + dr, c + dc
            ok = ~world.is_wall_cell(nr, nc)
            if dr and dc:  # no corner cutting
                ok &= ~world.is_wall_cell(r + dr, c) & ~world.is_wall_cell(r, c + dc)
            src.append(np.flatnonzero(ok))
            dst.append(index[nr[ok], nc[ok]])
            wt.append(np.full(ok.sum(), math.hypot(dr, dc) * world.cell_size))
        K = len(self.cells)
        graph = coo_matrix((np.concatenate(wt), (np.concatenate(src), np.concatenate(dst))), shape=(K, K)).tocsr()
        self.dist, self._pred = dijkstra(graph, directed=True, return_predecessors=True)

    def index_of(self, row: int, col: int) -> int:
        """Index of a free cell in :attr:`cells`; -1 for walls."""
        return int(self._index[row, col])

    def distance(self, a: int, b: int) -> float:
        """Geodesic distance (m) between free cells ``a`` and ``b`` (indices); inf if unreachable."""
        return float(self.dist[a, b])

    def cell_path(self, a: int, b: int) -> np.ndarray:
        """Cells ``(L, 2)`` (row, col) of the shortest path from cell index ``a`` to ``b`` (both included)."""
        if not np.isfinite(self.dist[a, b]):
            raise ValueError(f"cell {tuple(self.cells[b])} is unreachable from {tuple(self.cells[a])}")
        out = [b]
        while out[-1] != a:
            out.append(int(self._pred[a, out[-1]]))
        return self.cells[out[::-1]]


def drop_collinear(points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Remove interior vertices of a polyline ``(L, 2)`` that lie on a straight continuation, and
    repeated points."""
    pts = [points[0]]
    for p in points[1:]:
        if np.hypot(*(p - pts[-1])) > tol:
            pts.append(p)
    pts = np.asarray(pts)
    if len(pts) < 3:
        return pts
    keep = [0]
    for i in range(1, len(pts) - 1):
        a, b = pts[i] - pts[keep[-1]], pts[i + 1] - pts[i]
        if abs(a[0] * b[1] - a[1] * b[0]) > tol * (np.hypot(*a) * np.hypot(*b)) or np.dot(a, b) < 0:
            keep.append(i)
    keep.append(len(pts) - 1)
    return pts[keep]


def round_corners(points: np.ndarray, radius: float, step: float = 0.02) -> np.ndarray:
    """Replace each interior vertex of a polyline ``(L, 2)`` by a circular arc of ``radius`` (m).

    The tangent length at a vertex is capped at half of each adjacent segment (so consecutive arcs
    never overlap), which lowers the radius of that corner accordingly. Arcs are sampled every
    ``step`` metres. Returns a denser polyline with the same end points.
    """
    pts = drop_collinear(np.asarray(points, dtype=float))
    if len(pts) < 3 or radius <= 0:
        return pts
    out = [pts[0]]
    seg = np.diff(pts, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    dirs = seg / seg_len[:, None]
    for i in range(1, len(pts) - 1):
        d0, d1 = dirs[i - 1], dirs[i]
        turn = math.atan2(d0[0] * d1[1] - d0[1] * d1[0], float(np.dot(d0, d1)))  # signed, (-pi, pi]
        half = abs(turn) / 2
        if half < 1e-6:
            out.append(pts[i])
            continue
        if half > math.pi / 2 - 1e-3:  # a reversal: keep the vertex, there is no arc to fit
            out.append(pts[i])
            continue
        t = min(radius * math.tan(half), 0.5 * seg_len[i - 1], 0.5 * seg_len[i])
        r = t / math.tan(half)
        a = pts[i] - t * d0  # arc start, tangent to d0
        normal = np.array([-d0[1], d0[0]]) * math.copysign(1.0, turn)  # towards the arc centre
        centre = a + r * normal
        n = max(2, math.ceil(abs(turn) * r / step) + 1)
        phi0 = math.atan2(a[1] - centre[1], a[0] - centre[0])
        phis = phi0 + np.linspace(0.0, turn, n)
        out.extend(np.stack([centre[0] + r * np.cos(phis), centre[1] + r * np.sin(phis)], -1))
    out.append(pts[-1])
    return np.asarray(out)


def resample(points: np.ndarray, ds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample a polyline ``(L, 2)`` every ``ds`` metres of arc length.

    Returns ``(xy (P, 2), heading (P,) rad, curvature (P,) 1/m)``; the last sample is the end point
    (the final interval may be shorter than ``ds``). Curvature is the heading change per metre,
    central differences.
    """
    pts = np.asarray(points, dtype=float)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    keep = np.r_[True, seg > 1e-12]
    pts = pts[keep]
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(pts, axis=0).T))]
    if len(pts) < 2:
        return pts[:1].copy(), np.zeros(1), np.zeros(1)
    q = np.arange(0.0, s[-1], ds)
    if s[-1] - q[-1] > 1e-9:
        q = np.r_[q, s[-1]]
    xy = np.stack([np.interp(q, s, pts[:, 0]), np.interp(q, s, pts[:, 1])], -1)
    d = np.diff(xy, axis=0)
    hd = np.arctan2(d[:, 1], d[:, 0])
    heading = np.r_[hd, hd[-1]]
    dh = np.angle(np.exp(1j * np.diff(hd)))
    seg_q = np.hypot(d[:, 0], d[:, 1])
    kappa = np.zeros(len(xy))
    if len(dh):
        kappa[1:-1] = dh / np.maximum(0.5 * (seg_q[:-1] + seg_q[1:]), 1e-9)
    return xy, heading, kappa
