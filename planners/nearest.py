"""Incremental nearest-neighbour structures for growing trees.

Points get consecutive integer ids in insertion order (the tree's node ids) and are visible to
queries as soon as :meth:`add` returns; nothing is rebuilt from scratch on an insertion.

- :class:`LogKDTree` (default): a log-structured forest of ``scipy.spatial.cKDTree`` blocks over
  contiguous id ranges, plus a small brute-force buffer of the newest points. When the buffer fills
  it becomes a block, and equal-sized neighbouring blocks are merged like a binary counter, so each
  point is re-indexed O(log n) times in total. A query asks every block (O(log n) of them) and the
  buffer and keeps the closest. Works in any dimension; supports masked ("alive") queries for SST.
- :class:`GridNearest`: a uniform grid hash over xy (ids kept sorted by cell), searched ring by
  ring until the best candidate is provably the nearest. 2-D only.
- :class:`BruteNearest`: exact brute force, the reference for tests.

``scripts/bench_planners.py --nn`` compares them (docs/benchmarks.md, 'Nearest neighbours'):
LogKDTree was several times faster than the grid at every tree size tried. The grid loses because
RRT targets are often far from the tree, where it must search many rings, and because its sorted
insert moves O(n) memory. LogKDTree is the default.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.spatial import cKDTree


class NearestIndex(Protocol):
    """Nearest-neighbour index over points added in batches; ids are 0..len-1 in insertion order."""

    def add(self, points: np.ndarray) -> None:
        """Append points ``(K, d)``; they get ids ``len .. len+K-1``."""
        ...

    def query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point to each query ``(B, d)`` -> ``(ids (B,), distances (B,))``."""
        ...

    def __len__(self) -> int: ...


class _Points:
    """A growable ``(n, d)`` float array (amortised doubling)."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.data = np.empty((capacity, dim))
        self.n = 0

    def extend(self, pts: np.ndarray) -> None:
        k = len(pts)
        if self.n + k > len(self.data):
            new = np.empty((max(2 * len(self.data), self.n + k), self.data.shape[1]))
            new[: self.n] = self.data[: self.n]
            self.data = new
        self.data[self.n : self.n + k] = pts
        self.n += k

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.n]


def _as_points(points: np.ndarray, dim: int) -> np.ndarray:
    points = np.asarray(points, dtype=float)
    if points.ndim != 2 or points.shape[1] != dim:
        raise ValueError(f"expected points of shape (K, {dim}), got {points.shape}")
    return points


class BruteNearest:
    """Exact brute-force nearest neighbour (reference implementation)."""

    def __init__(self, dim: int = 2) -> None:
        self.dim = dim
        self._pts = _Points(dim)

    def __len__(self) -> int:
        return self._pts.n

    @property
    def points(self) -> np.ndarray:
        return self._pts.view

    def add(self, points: np.ndarray) -> None:
        self._pts.extend(_as_points(points, self.dim))

    def query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = _as_points(q, self.dim)
        d2 = ((q[:, None, :] - self._pts.view[None]) ** 2).sum(-1)
        i = np.argmin(d2, axis=1)
        return i, np.sqrt(d2[np.arange(len(q)), i])


class LogKDTree:
    """Log-structured cKDTree forest with a brute-force buffer (see module docstring).

    ``buffer`` is the number of newest points searched by brute force before they are indexed.
    """

    def __init__(self, dim: int = 2, buffer: int = 256) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, got {buffer}")
        self.dim = dim
        self.buffer = buffer
        self._pts = _Points(dim)
        self._blocks: list[tuple[int, int, cKDTree]] = []  # (start, stop, tree), contiguous ranges
        self._buf_start = 0

    def __len__(self) -> int:
        return self._pts.n

    @property
    def points(self) -> np.ndarray:
        return self._pts.view

    def add(self, points: np.ndarray) -> None:
        self._pts.extend(_as_points(points, self.dim))
        if self._pts.n - self._buf_start >= self.buffer:
            self._blocks.append((self._buf_start, self._pts.n, None))  # type: ignore[arg-type]
            self._buf_start = self._pts.n
            # merge while the previous block is not larger than the newest (binary counter)
            while len(self._blocks) >= 2 and (
                self._blocks[-2][1] - self._blocks[-2][0] <= self._blocks[-1][1] - self._blocks[-1][0]
            ):
                s0, _, _ = self._blocks[-2]
                _, s1, _ = self._blocks.pop()
                self._blocks[-1] = (s0, s1, None)  # type: ignore[assignment]
            s0, s1, _ = self._blocks[-1]
            self._blocks[-1] = (s0, s1, cKDTree(self._pts.data[s0:s1]))

    def query(self, q: np.ndarray, alive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point per query ``(B, d)`` -> ``(ids (B,), dist (B,))``.

        With ``alive`` (bool mask over all ids), only alive points count; ids are -1 and distances
        inf where no alive point exists.
        """
        q = _as_points(q, self.dim)
        B = len(q)
        best_d = np.full(B, np.inf)
        best_i = np.full(B, -1, dtype=np.int64)
        for s0, s1, tree in self._blocks:
            if alive is None:
                d, i = tree.query(q, k=1)
                i = i + s0
            else:
                d, i = self._query_block_alive(tree, s0, s1, q, alive)
            better = d < best_d
            best_d = np.where(better, d, best_d)
            best_i = np.where(better, i, best_i)
        if self._pts.n > self._buf_start:
            buf = self._pts.data[self._buf_start : self._pts.n]
            d2 = ((q[:, None, :] - buf[None]) ** 2).sum(-1)
            if alive is not None:
                d2 = np.where(alive[self._buf_start : self._pts.n][None], d2, np.inf)
            j = np.argmin(d2, axis=1)
            d = np.sqrt(d2[np.arange(B), j])
            better = d < best_d
            best_d = np.where(better, d, best_d)
            best_i = np.where(better, j + self._buf_start, best_i)
        return best_i, best_d

    @staticmethod
    def _query_block_alive(tree, s0, s1, q, alive) -> tuple[np.ndarray, np.ndarray]:
        """Nearest alive point of one block: k nearest with k doubling until one is alive."""
        size = s1 - s0
        block_alive = alive[s0:s1]
        d_out = np.full(len(q), np.inf)
        i_out = np.full(len(q), -1, dtype=np.int64)
        if not block_alive.any():
            return d_out, i_out
        todo = np.arange(len(q))
        k = min(8, size)
        while len(todo):
            d, i = tree.query(q[todo], k=k)
            d, i = d.reshape(len(todo), -1), i.reshape(len(todo), -1)
            ok = block_alive[np.minimum(i, size - 1)] & np.isfinite(d)
            found = ok.any(axis=1)
            j = np.argmax(ok, axis=1)
            rows = todo[found]
            d_out[rows] = d[found, j[found]]
            i_out[rows] = i[found, j[found]] + s0
            if k >= size:
                break
            todo = todo[~found]
            k = min(4 * k, size)
        return d_out, i_out

    def query_radius_min(
        self, q: np.ndarray, r: float, key: np.ndarray, alive: np.ndarray, k: int = 64
    ) -> np.ndarray:
        """Per query, the alive id with the smallest ``key`` among points within ``r`` (searching the
        ``k`` nearest per block); -1 where none. Used by SST's best-near selection."""
        q = _as_points(q, self.dim)
        B = len(q)
        best_key = np.full(B, np.inf)
        best_i = np.full(B, -1, dtype=np.int64)

        def consider(ids: np.ndarray, dist: np.ndarray) -> None:
            nonlocal best_key, best_i
            valid = np.isfinite(dist) & (dist <= r)
            safe = np.where(valid, ids, 0)
            valid &= alive[safe]
            kk = np.where(valid, key[safe], np.inf)
            j = np.argmin(kk, axis=1)
            cand_k = kk[np.arange(B), j]
            better = cand_k < best_key
            best_key = np.where(better, cand_k, best_key)
            best_i = np.where(better, safe[np.arange(B), j], best_i)

        for s0, s1, tree in self._blocks:
            kb = min(k, s1 - s0)
            d, i = tree.query(q, k=kb, distance_upper_bound=r)
            d, i = d.reshape(B, -1), i.reshape(B, -1)
            consider(np.where(np.isfinite(d), i + s0, 0), d)
        if self._pts.n > self._buf_start:
            buf = self._pts.data[self._buf_start : self._pts.n]
            d = np.sqrt(((q[:, None, :] - buf[None]) ** 2).sum(-1))
            consider(np.broadcast_to(np.arange(self._buf_start, self._pts.n), d.shape), d)
        return best_i


class GridNearest:
    """Uniform grid hash over xy: ids sorted by cell; rings searched until the result is exact.

    ``bounds`` = (x_min, x_max, y_min, y_max) of the region points and queries fall in (points
    outside are clamped to the border cells, which keeps the search exact); ``cell`` in metres.
    """

    def __init__(self, bounds: tuple[float, float, float, float], cell: float = 0.5) -> None:
        self.dim = 2
        self.cell = float(cell)
        self.x0, self.y0 = bounds[0], bounds[2]
        self.nx = max(1, int(np.ceil((bounds[1] - bounds[0]) / cell)))
        self.ny = max(1, int(np.ceil((bounds[3] - bounds[2]) / cell)))
        self._pts = _Points(2)
        self._keys = np.zeros(0, dtype=np.int64)  # sorted cell keys
        self._ids = np.zeros(0, dtype=np.int64)  # ids in key order

    def __len__(self) -> int:
        return self._pts.n

    def _cells(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cx = np.clip(np.floor((p[:, 0] - self.x0) / self.cell).astype(np.int64), 0, self.nx - 1)
        cy = np.clip(np.floor((p[:, 1] - self.y0) / self.cell).astype(np.int64), 0, self.ny - 1)
        return cx, cy

    def add(self, points: np.ndarray) -> None:
        points = _as_points(points, 2)
        n0 = self._pts.n
        self._pts.extend(points)
        cx, cy = self._cells(points)
        keys = cy * self.nx + cx
        order = np.argsort(keys, kind="stable")
        keys, ids = keys[order], np.arange(n0, n0 + len(points))[order]
        pos = np.searchsorted(self._keys, keys, side="right")
        self._keys = np.insert(self._keys, pos, keys)
        self._ids = np.insert(self._ids, pos, ids)

    def query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = _as_points(q, 2)
        B = len(q)
        best_d = np.full(B, np.inf)
        best_i = np.full(B, -1, dtype=np.int64)
        if self._pts.n == 0:
            return best_i, best_d
        pts = self._pts.view
        qx, qy = self._cells(q)
        todo = np.arange(B)
        max_ring = max(self.nx, self.ny)
        for ring in range(max_ring + 1):
            if not len(todo):
                break
            # cells on the Chebyshev ring `ring` around each pending query's cell
            if ring == 0:
                off = np.zeros((1, 2), dtype=np.int64)
            else:
                k = np.arange(-ring, ring + 1)
                off = np.unique(
                    np.concatenate(
                        [np.stack([k, np.full_like(k, -ring)], 1), np.stack([k, np.full_like(k, ring)], 1),
                         np.stack([np.full_like(k, -ring), k], 1), np.stack([np.full_like(k, ring), k], 1)]
                    ),
                    axis=0,
                )
            cx = qx[todo, None] + off[None, :, 0]
            cy = qy[todo, None] + off[None, :, 1]
            inside = (cx >= 0) & (cx < self.nx) & (cy >= 0) & (cy < self.ny)
            keys = np.where(inside, cy * self.nx + cx, -1)
            lo = np.searchsorted(self._keys, keys, side="left")
            hi = np.where(inside, np.searchsorted(self._keys, keys, side="right"), lo)
            counts = (hi - lo).reshape(-1)
            total = int(counts.sum())
            if total:
                owner = np.repeat(np.repeat(todo, off.shape[0]), counts)
                starts = np.repeat(lo.reshape(-1), counts)
                within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
                cand = self._ids[starts + within]
                d = np.linalg.norm(pts[cand] - q[owner], axis=1)
                order = np.lexsort((cand, d, owner))  # per owner: closest first, ties by id
                owner, d, cand = owner[order], d[order], cand[order]
                first = np.r_[True, owner[1:] != owner[:-1]]
                o, dd, cc = owner[first], d[first], cand[first]
                better = dd < best_d[o]
                best_d[o[better]] = dd[better]
                best_i[o[better]] = cc[better]
            # exact once the best lies within the searched square's inner distance
            lx = q[todo, 0] - (self.x0 + (qx[todo] - ring) * self.cell)
            hx = self.x0 + (qx[todo] + ring + 1) * self.cell - q[todo, 0]
            ly = q[todo, 1] - (self.y0 + (qy[todo] - ring) * self.cell)
            hy = self.y0 + (qy[todo] + ring + 1) * self.cell - q[todo, 1]
            reach = np.minimum(np.minimum(lx, hx), np.minimum(ly, hy))
            todo = todo[best_d[todo] > reach]
        return best_i, best_d
