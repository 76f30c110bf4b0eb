"""Occupancy-grid worlds (docs/maps.md): loading DiTree map CSVs, coordinates, free cells, random mazes.

A map is an ``H x W`` grid, 1 = wall, 0 = free, row 0 at the top, square cells of side ``s``
metres (default 1 m). Cell ``(row, col)`` has centre::

    x = (col + 0.5)*s - W*s/2        y = H*s/2 - (row + 0.5)*s

so the map is centred on the origin and rows grow towards -y. Everything outside the grid counts
as wall.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from envs.errors import MapFormatError


@dataclass(frozen=True, eq=False)
class GridMap:
    """An occupancy grid. ``grid`` is ``(H, W)`` uint8 with 1 = wall; ``cell_size`` in metres."""

    grid: np.ndarray
    cell_size: float = 1.0
    name: str = "map"
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        g = np.asarray(self.grid)
        where = self.source or self.name
        if g.ndim != 2 or g.size == 0:
            raise MapFormatError(f"{where}: a map must be a non-empty 2-D grid, got shape {g.shape}")
        bad = ~np.isin(g, (0, 1))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise MapFormatError(f"{where}: cell (row {r}, col {c}) is {g[r, c]!r}; only 0 and 1 are allowed")
        if not self.cell_size > 0:
            raise MapFormatError(f"{where}: cell_size must be positive, got {self.cell_size}")
        g = np.ascontiguousarray(g, dtype=np.uint8)
        g.setflags(write=False)
        object.__setattr__(self, "grid", g)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_csv(cls, path: str | Path, cell_size: float = 1.0, name: str | None = None) -> GridMap:
        """Load a DiTree map CSV (comma-separated 0/1, Unix or Windows line endings)."""
        path = Path(path)
        if not path.is_file():
            raise MapFormatError(f"map file not found: {path}")
        text = path.read_bytes().decode("utf-8", errors="replace")
        rows: list[list[int]] = []
        width: int | None = None
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            fields = [f.strip() for f in line.split(",")]
            values = []
            for col, f in enumerate(fields):
                if f not in ("0", "1"):
                    raise MapFormatError(f"{path}:{lineno}: column {col} is {f!r}; only 0 and 1 are allowed")
                values.append(int(f))
            if width is None:
                width = len(values)
            elif len(values) != width:
                raise MapFormatError(
                    f"{path}:{lineno}: row has {len(values)} cells but the first row has {width} (ragged rows)"
                )
            rows.append(values)
        if not rows:
            raise MapFormatError(f"{path}: the map file is empty")
        return cls(np.array(rows, dtype=np.uint8), cell_size, name or path.stem, source=str(path))

    def to_csv(self, path: str | Path) -> None:
        """Write the grid as a DiTree map CSV (Unix line endings)."""
        Path(path).write_text("\n".join(",".join(str(int(v)) for v in row) for row in self.grid) + "\n")

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape  # type: ignore[return-value]

    @property
    def height_m(self) -> float:
        return self.grid.shape[0] * self.cell_size

    @property
    def width_m(self) -> float:
        return self.grid.shape[1] * self.cell_size

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` in metres."""
        return (-self.width_m / 2, self.width_m / 2, -self.height_m / 2, self.height_m / 2)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` in metres (the :class:`World` protocol's name for :attr:`bounds`)."""
        return self.bounds

    def content_hash(self) -> str:
        """SHA-256 of the grid and cell size: identifies a map independently of its file name."""
        h = hashlib.sha256()
        h.update(np.asarray(self.grid.shape, dtype=np.int64).tobytes())
        h.update(self.grid.tobytes())
        h.update(np.float64(self.cell_size).tobytes())
        return h.hexdigest()

    def cell_to_xy(self, row, col) -> np.ndarray:
        """Cell centres: ``row``, ``col`` (scalars or arrays) -> ``(..., 2)`` metres."""
        row = np.asarray(row, dtype=float)
        col = np.asarray(col, dtype=float)
        s = self.cell_size
        x = (col + 0.5) * s - self.width_m / 2
        y = self.height_m / 2 - (row + 0.5) * s
        return np.stack([x, y], axis=-1)

    def xy_to_cell(self, xy) -> np.ndarray:
        """Points ``(..., 2)`` (m) -> integer cells ``(..., 2)`` as (row, col); may lie outside the grid."""
        xy = np.asarray(xy, dtype=float)
        s = self.cell_size
        col = np.floor((xy[..., 0] + self.width_m / 2) / s)
        row = np.floor((self.height_m / 2 - xy[..., 1]) / s)
        return np.stack([row, col], axis=-1).astype(np.int64)

    def in_bounds(self, row, col) -> np.ndarray:
        row, col = np.asarray(row), np.asarray(col)
        H, W = self.grid.shape
        return (row >= 0) & (row < H) & (col >= 0) & (col < W)

    def is_wall_cell(self, row, col) -> np.ndarray:
        """Wall test for cells (arrays allowed); cells outside the grid are walls."""
        row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
        inside = self.in_bounds(row, col)
        H, W = self.grid.shape
        r = np.clip(row, 0, H - 1)
        c = np.clip(col, 0, W - 1)
        return np.where(inside, self.grid[r, c] == 1, True)

    def is_free_cell(self, row, col) -> np.ndarray:
        return ~self.is_wall_cell(row, col)

    def is_free_point(self, xy) -> np.ndarray:
        """Whether points ``(..., 2)`` lie in free cells."""
        rc = self.xy_to_cell(xy)
        return self.is_free_cell(rc[..., 0], rc[..., 1])

    def free_cells(self) -> np.ndarray:
        """All free cells as ``(K, 2)`` (row, col), row-major order."""
        return np.argwhere(self.grid == 0)

    def sample_free_points(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points (m) uniform over the free area (uniform cell, then uniform inside it)."""
        cells = self.free_cells()
        pick = cells[rng.integers(0, len(cells), size=n)]
        offset = rng.uniform(-0.5, 0.5, size=(n, 2)) * self.cell_size
        return self.cell_to_xy(pick[:, 0], pick[:, 1]) + offset

    def with_cell_size(self, cell_size: float) -> GridMap:
        return GridMap(self.grid, cell_size, self.name, self.source)


@runtime_checkable
class World(Protocol):
    """What planners, checkers and drawings need of a world: a :class:`GridMap` or an
    ``envs.box_world.BoxWorld`` (continuous boxes and circles).

    - ``name``, ``source``; ``content_hash()`` identifies the content (cache keys);
    - ``extent`` = ``(x_min, x_max, y_min, y_max)`` (m): the region the robot's reference point
      may occupy (a GridMap: the map; a BoxWorld: its ``bounds``);
    - ``is_free_point(xy)``, ``sample_free_points(rng, n)``: points, not footprints;
    - an occupancy raster of square cells for grid heuristics (geodesics, informed sets):
      ``grid`` ``(H, W)`` uint8 (1 = wall), ``cell_size``, ``shape``, ``cell_to_xy``,
      ``xy_to_cell``, ``in_bounds``, ``is_wall_cell``, ``is_free_cell``, ``free_cells``.

    Exact collision is per world kind (``envs.collision.make_checker`` dispatches).
    """

    name: str
    source: str | None
    grid: np.ndarray
    cell_size: float

    @property
    def extent(self) -> tuple[float, float, float, float]: ...

    @property
    def shape(self) -> tuple[int, int]: ...

    def content_hash(self) -> str: ...

    def is_free_point(self, xy) -> np.ndarray: ...

    def sample_free_points(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    def cell_to_xy(self, row, col) -> np.ndarray: ...

    def xy_to_cell(self, xy) -> np.ndarray: ...

    def in_bounds(self, row, col) -> np.ndarray: ...

    def is_wall_cell(self, row, col) -> np.ndarray: ...

    def is_free_cell(self, row, col) -> np.ndarray: ...

    def free_cells(self) -> np.ndarray: ...


def random_maze(
    rows: int,
    cols: int,
    seed: int,
    *,
    cell_size: float = 1.0,
    loop_fraction: float = 0.1,
    name: str | None = None,
) -> GridMap:
    """A seeded random maze: a depth-first-search spanning tree on a lattice of rooms, with walls
    on the border, and a fraction of the internal walls knocked out to create loops.

    ``rows`` and ``cols`` are the grid size (odd numbers give a full border; even ones are rounded
    down to odd internally and padded with wall). Same seed, same maze.
    """
    if rows < 3 or cols < 3:
        raise ValueError(f"a maze needs at least 3 x 3 cells, got {rows} x {cols}")
    if not 0.0 <= loop_fraction <= 1.0:
        raise ValueError(f"loop_fraction must lie in [0, 1], got {loop_fraction}")
    rng = np.random.default_rng(seed)
    H, W = rows if rows % 2 else rows - 1, cols if cols % 2 else cols - 1
    grid = np.ones((rows, cols), dtype=np.uint8)
    rooms_r, rooms_c = (H - 1) // 2, (W - 1) // 2
    visited = np.zeros((rooms_r, rooms_c), dtype=bool)
    stack = [(int(rng.integers(rooms_r)), int(rng.integers(rooms_c)))]
    visited[stack[0]] = True
    grid[2 * stack[0][0] + 1, 2 * stack[0][1] + 1] = 0
    while stack:
        r, c = stack[-1]
        nbrs = [
            (r + dr, c + dc)
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + dr < rooms_r and 0 <= c + dc < rooms_c and not visited[r + dr, c + dc]
        ]
        if not nbrs:
            stack.pop()
            continue
        nr, nc = nbrs[int(rng.integers(len(nbrs)))]
        visited[nr, nc] = True
        grid[2 * nr + 1, 2 * nc + 1] = 0
        grid[r + nr + 1, c + nc + 1] = 0
        stack.append((nr, nc))
    # knock out internal walls that separate two rooms to add loops
    inner = [
        (r, c)
        for r in range(1, H - 1)
        for c in range(1, W - 1)
        if grid[r, c] == 1 and ((r % 2 == 1 and c % 2 == 0) or (r % 2 == 0 and c % 2 == 1))
    ]
    n_knock = round(loop_fraction * len(inner))
    for i in rng.permutation(len(inner))[:n_knock]:
        grid[inner[i]] = 0
    return GridMap(grid, cell_size, name or f"maze_{rows}x{cols}_s{seed}")
