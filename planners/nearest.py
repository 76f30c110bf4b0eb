"""Incremental nearest-neighbour structures for growing trees.

Points get consecutive integer ids in insertion order (the tree's node ids) and are visible to
queries as soon as :meth:`add` returns; nothing is rebuilt from scratch on an insertion.

- :class:`LogKDTree` (default): a log-structured forest of ``scipy.spatial.cKDTree`` blocks over
  contiguous id ranges, plus a small brute-force buffer of the newest points. When the buffer fills
  it becomes a block, and equal-sized neighbouring blocks are merged like a binary counter, so each
  point is re-indexed O(log n) times in total. A query asks every block (O(log n) of them) and the
  buffer and keeps the closest. Works in any dimension; supports masked ("alive") queries for SST,
  and best-near queries (the least-cost alive point within a radius, exact). With ``drop_dead``
  (points that die for good, as SST's inactive nodes) blocks are built from the points alive then,
  so a long anytime search whose nodes mostly die keeps its time per query flat
  (docs/benchmarks.md, 'Tree size').
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

    ``drop_dead``: for callers whose points die for good (SST's and the anytime search's inactive
    nodes): :meth:`add` takes the current ``alive`` mask, and each block, when it is built (the
    buffer, or merged blocks), indexes only its points alive then. Blocks then merge by the points
    they hold, so a tree whose nodes mostly die keeps a few small blocks, and queries stop wading
    through dead points. Every query must pass ``alive`` (a point dead at a build never comes back;
    :meth:`query` without it raises once one was left out); answers are the same as without
    ``drop_dead`` for masks that only ever turn points off.
    """

    def __init__(self, dim: int = 2, buffer: int = 256, *, drop_dead: bool = False) -> None:
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1, got {buffer}")
        self.dim = dim
        self.buffer = buffer
        self.drop_dead = bool(drop_dead)
        self._pts = _Points(dim)
        #: (start, stop, tree, ids): contiguous id ranges; ``ids`` (the ids the tree indexes, in
        #: order) is None when the tree holds the whole range
        self._blocks: list[tuple[int, int, cKDTree, np.ndarray | None]] = []
        self._buf_start = 0
        self._dropped = 0  # points left out of blocks (drop_dead)

    def __len__(self) -> int:
        return self._pts.n

    @property
    def points(self) -> np.ndarray:
        return self._pts.view

    def _held(self, block: tuple) -> int:
        """Points a block holds (its range's length unless ``drop_dead`` left some out)."""
        s0, s1, _, ids = block
        return s1 - s0 if ids is None else len(ids)

    def add(self, points: np.ndarray, alive: np.ndarray | None = None) -> None:
        """Append points ``(K, d)`` (ids ``len .. len+K-1``). With ``drop_dead``, ``alive`` (bool
        over all ids, the new ones included) is required: blocks built now leave dead points out."""
        points = _as_points(points, self.dim)
        n = self._pts.n + len(points)
        if self.drop_dead and (alive is None or len(alive) < n):
            raise ValueError(f"LogKDTree(drop_dead=True).add needs alive over all {n} points, the new ones included")
        self._pts.extend(points)
        if self._pts.n - self._buf_start >= self.buffer:
            self._blocks.append((self._buf_start, self._pts.n, None, None))  # type: ignore[arg-type]
            self._buf_start = self._pts.n
            size = (lambda blk: self._held_now(blk, alive)) if self.drop_dead else self._held
            # merge while the previous block is not larger than the newest (binary counter)
            while len(self._blocks) >= 2 and size(self._blocks[-2]) <= size(self._blocks[-1]):
                s0, _, _, ids0 = self._blocks[-2]
                m, s1, _, ids1 = self._blocks.pop()
                ids = None if ids0 is None and ids1 is None else np.concatenate(
                    [np.arange(s0, m) if ids0 is None else ids0, np.arange(m, s1) if ids1 is None else ids1])
                self._blocks[-1] = (s0, s1, None, ids)  # type: ignore[assignment]
            self._build_last(alive)

    def _held_now(self, block: tuple, alive: np.ndarray) -> int:
        """With ``drop_dead``: the points of ``block`` that would survive a rebuild now."""
        s0, s1, _, ids = block
        return int(alive[s0:s1].sum()) if ids is None else int(alive[ids].sum())

    def _build_last(self, alive: np.ndarray | None) -> None:
        s0, s1, _, ids = self._blocks[-1]
        if self.drop_dead:
            before = s1 - s0 if ids is None else len(ids)
            ids = np.arange(s0, s1) if ids is None else ids
            ids = ids[alive[ids]]
            self._dropped += before - len(ids)
            if len(ids) == s1 - s0:
                ids = None
        pts = self._pts.data[s0:s1] if ids is None else self._pts.data[ids]
        self._blocks[-1] = (s0, s1, cKDTree(pts) if len(pts) else None, ids)

    def _blocks_to_search(self):
        """(start, tree, ids) of every non-empty block."""
        return [(s0, tree, ids) for s0, _, tree, ids in self._blocks if tree is not None]

    def query(self, q: np.ndarray, alive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point per query ``(B, d)`` -> ``(ids (B,), dist (B,))``.

        With ``alive`` (bool mask over all ids), only alive points count; ids are -1 and distances
        inf where no alive point exists.
        """
        if alive is None and self._dropped:
            raise ValueError("LogKDTree(drop_dead=True) has left dead points out: queries must pass alive")
        q = _as_points(q, self.dim)
        B = len(q)
        best_d = np.full(B, np.inf)
        best_i = np.full(B, -1, dtype=np.int64)
        for s0, tree, ids in self._blocks_to_search():
            if alive is None:
                d, i = tree.query(q, k=1)
                i = i + s0
            else:
                d, i = self._query_block_alive(tree, s0, ids, q, alive)
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
    def _query_block_alive(tree, s0, ids, q, alive) -> tuple[np.ndarray, np.ndarray]:
        """Nearest alive point of one block: k nearest with k doubling until one is alive."""
        size = tree.n
        block_ids = np.arange(s0, s0 + size) if ids is None else ids
        block_alive = alive[block_ids]
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
            i_out[rows] = block_ids[i[found, j[found]]]
            if k >= size:
                break
            todo = todo[~found]
            k = min(4 * k, size)
        return d_out, i_out

    def query_radius_min(
        self, q: np.ndarray, r: float, key: np.ndarray, alive: np.ndarray, k: int = 64, exact: bool = True
    ) -> np.ndarray:
        """Per query ``(B, d)``, the alive id with the smallest ``key`` among all points within ``r``
        (of equal keys the smallest id); -1 where none (SST's best-near selection). Each block is
        asked for its ``k`` nearest points within ``r`` first, then, for the queries that had ``k``
        of them, four times as many, until the block holds no more within ``r``. ``exact=False``
        stops after the first ``k`` per block (an approximation whose cost does not grow with the
        density of points; the anytime search's 2-D index, whose live nodes can crowd a disc)."""
        q = _as_points(q, self.dim)
        B = len(q)
        best_key = np.full(B, np.inf)
        best_i = np.full(B, -1, dtype=np.int64)

        def consider(rows: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> None:
            valid = np.isfinite(dist) & (dist <= r)
            safe = np.where(valid, ids, 0)
            valid &= alive[safe]
            kk = np.where(valid, key[safe], np.inf)
            k_min = kk.min(axis=1)
            # equal keys are common (costs are multiples of dt): the smallest id wins, whatever the blocks
            i_min = np.where(valid & (kk == k_min[:, None]), safe, np.iinfo(np.int64).max).min(axis=1)
            better = np.isfinite(k_min) & ((k_min < best_key[rows]) | ((k_min == best_key[rows]) & (i_min < best_i[rows])))
            best_key[rows[better]] = k_min[better]
            best_i[rows[better]] = i_min[better]

        for s0, tree, ids in self._blocks_to_search():
            rows = np.arange(B)
            kb = min(k, tree.n)
            while len(rows):
                d, i = tree.query(q[rows], k=kb, distance_upper_bound=r)
                d, i = d.reshape(len(rows), -1), np.minimum(i.reshape(len(rows), -1), tree.n - 1)  # a miss: i = n
                consider(rows, i + s0 if ids is None else ids[i], d)
                if kb >= tree.n or not exact:
                    break
                rows = rows[np.isfinite(d[:, -1])]  # all kb lie within r: the block may hold more
                kb = min(4 * kb, tree.n)
        if self._pts.n > self._buf_start:
            buf = self._pts.data[self._buf_start : self._pts.n]
            d = np.sqrt(((q[:, None, :] - buf[None]) ** 2).sum(-1))
            consider(np.arange(B), np.broadcast_to(np.arange(self._buf_start, self._pts.n), d.shape), d)
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
