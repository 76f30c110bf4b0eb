"""Continuous worlds of axis-aligned boxes and circles (dynobench's environments; docs/maps.md).

A :class:`BoxWorld` holds obstacles in continuous coordinates (metres):

- ``boxes`` ``(N, 4)`` = (centre x, centre y, FULL side x, FULL side y), axis-aligned;
- ``circles`` ``(M, 3)`` = (centre x, centre y, radius);
- ``bounds`` = ``(xmin, ymin, xmax, ymax)``: the box the robot's REFERENCE POINT (the state's x, y)
  must stay in (dynobench's ``min``/``max``). There are no walls at the border: a footprint may
  stick out of ``bounds``, and collision checkers see only the obstacles.

It stands behind the same interfaces as :class:`~envs.world.GridMap` (the :class:`~envs.world.World`
protocol): ``name``, ``source``, ``extent`` = ``(x_min, x_max, y_min, y_max)`` (note: GridMap's
``bounds`` has that order too, BoxWorld's ``bounds`` field the dynobench order), ``content_hash``,
``is_free_point``, ``sample_free_points``, ``contains_reference``, and an occupancy raster
(``grid``, ``cell_size``, ``cell_to_xy``, ``xy_to_cell``, ``is_wall_cell``, ``free_cells`` ...)
for the grid heuristics (planners.anytime.CostToGo, cells named in problems). The raster covers
``bounds`` with square cells of ``cell_size`` (row 0 at the top, as a GridMap's); a cell is wall
when its centre lies inside an obstacle or outside ``bounds`` (sampled occupancy: it is a
heuristic's view, never used to decide collisions). Exact collision is
``envs.collision.AnalyticCollisionChecker`` (separating axes, closest points) and, independently, PyBullet.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from envs.errors import MapFormatError


def _array(value: Any, cols: int, what: str, where: str) -> np.ndarray:
    try:
        a = np.array(value if value is not None else np.zeros((0, cols)), dtype=float)
    except (TypeError, ValueError):
        raise MapFormatError(f"{where}: {what} must be numbers, got {value!r}") from None
    if a.size == 0:
        a = a.reshape(0, cols)
    if a.ndim != 2 or a.shape[1] != cols:
        raise MapFormatError(f"{where}: {what} must be an (n, {cols}) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise MapFormatError(f"{where}: {what} row {int(np.argwhere(~np.isfinite(a))[0, 0])} is not finite")
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class BoxWorld:
    """Axis-aligned boxes and circles in a bounded plane (module docstring). ``cell_size`` (m) is
    the resolution of the occupancy raster used by grid heuristics only."""

    bounds: tuple[float, float, float, float]
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    circles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    name: str = "boxworld"
    source: str | None = field(default=None, compare=False)
    cell_size: float = 0.05

    def __post_init__(self) -> None:
        where = self.source or self.name
        try:
            b = tuple(float(v) for v in self.bounds)
        except (TypeError, ValueError):
            raise MapFormatError(f"{where}: bounds must be 4 numbers (xmin, ymin, xmax, ymax), got {self.bounds!r}") from None
        if len(b) != 4 or not all(math.isfinite(v) for v in b):
            raise MapFormatError(f"{where}: bounds must be 4 finite numbers (xmin, ymin, xmax, ymax), got {self.bounds!r}")
        if not (b[0] < b[2] and b[1] < b[3]):
            raise MapFormatError(f"{where}: bounds {b} need xmin < xmax and ymin < ymax")
        boxes = _array(self.boxes, 4, "boxes [cx, cy, sx, sy]", where)
        circles = _array(self.circles, 3, "circles [cx, cy, r]", where)
        if (boxes[:, 2:] <= 0).any():
            i = int(np.argmax((boxes[:, 2:] <= 0).any(axis=1)))
            raise MapFormatError(f"{where}: box {i} has a side <= 0: [cx, cy, sx, sy] = {boxes[i].tolist()}")
        if (circles[:, 2] <= 0).any():
            i = int(np.argmax(circles[:, 2] <= 0))
            raise MapFormatError(f"{where}: circle {i} has radius {circles[i, 2]:g} <= 0")
        if not (isinstance(self.cell_size, (int, float)) and math.isfinite(self.cell_size) and self.cell_size > 0):
            raise MapFormatError(f"{where}: cell_size must be a positive number, got {self.cell_size!r}")
        object.__setattr__(self, "bounds", b)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "circles", circles)
        object.__setattr__(self, "cell_size", float(self.cell_size))
        # the raster covers bounds: W x H square cells, the last column/row may reach past xmax/ymax
        s = self.cell_size
        W = max(1, math.ceil((b[2] - b[0]) / s - 1e-9))
        H = max(1, math.ceil((b[3] - b[1]) / s - 1e-9))
        object.__setattr__(self, "_shape", (H, W))
        rr, cc = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
        grid = (~self.is_free_point(self.cell_to_xy(rr, cc))).astype(np.uint8)
        grid.setflags(write=False)
        object.__setattr__(self, "grid", grid)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dynobench_environment(cls, env: dict, name: str = "boxworld", source: str | None = None) -> BoxWorld:
        """From the ``environment:`` mapping of a dynobench instance YAML: ``min`` ``[xmin, ymin]``,
        ``max`` ``[xmax, ymax]``, ``obstacles``: a list of ``{type: box|sphere, center: [x, y],
        size: [sx, sy] (box, full sides) or [r] (sphere: size[0] is the radius)}``. Raises
        :class:`~envs.errors.MapFormatError` naming the field."""
        where = source or name
        if not isinstance(env, dict):
            raise MapFormatError(f"{where}: environment must be a mapping, got {type(env).__name__}")
        corners = []
        for key in ("min", "max"):
            if key not in env:
                raise MapFormatError(f"{where}: environment.{key} is missing")
            v = env[key]
            if not isinstance(v, (list, tuple)) or len(v) < 2 or not all(_is_number(x) for x in v[:2]):
                raise MapFormatError(f"{where}: environment.{key} must be [x, y] numbers, got {v!r}")
            corners.append([float(v[0]), float(v[1])])
        obstacles = env.get("obstacles") or []
        if not isinstance(obstacles, list):
            raise MapFormatError(f"{where}: environment.obstacles must be a list, got {type(obstacles).__name__}")
        boxes, circles = [], []
        for i, ob in enumerate(obstacles):
            f = f"environment.obstacles[{i}]"
            if not isinstance(ob, dict):
                raise MapFormatError(f"{where}: {f} must be a mapping, got {ob!r}")
            kind = ob.get("type")
            if kind not in ("box", "sphere"):
                raise MapFormatError(f"{where}: {f}.type is {kind!r}; expected 'box' or 'sphere'")
            centre, size = ob.get("center"), ob.get("size")
            if not isinstance(centre, (list, tuple)) or len(centre) < 2 or not all(_is_number(x) for x in centre[:2]):
                raise MapFormatError(f"{where}: {f}.center must be [x, y] numbers, got {centre!r}")
            need = 2 if kind == "box" else 1
            if not isinstance(size, (list, tuple)) or len(size) < need or not all(_is_number(x) for x in size[:need]):
                what = "[sx, sy]" if kind == "box" else "[radius]"
                raise MapFormatError(f"{where}: {f}.size must be {what} numbers, got {size!r}")
            if any(float(x) <= 0 for x in size[:need]):
                raise MapFormatError(f"{where}: {f}.size must be positive, got {size!r}")
            if kind == "box":
                boxes.append([float(centre[0]), float(centre[1]), float(size[0]), float(size[1])])
            else:
                circles.append([float(centre[0]), float(centre[1]), float(size[0])])
        (x0, y0), (x1, y1) = corners
        if not (x0 < x1 and y0 < y1):
            raise MapFormatError(f"{where}: environment.min {corners[0]} must be below environment.max {corners[1]}")
        return cls((x0, y0, x1, y1), np.array(boxes).reshape(-1, 4), np.array(circles).reshape(-1, 3), name, source)

    def to_dict(self) -> dict:
        """JSON-ready description (the inverse of :meth:`from_dict`)."""
        return {"kind": "boxworld", "name": self.name, "bounds": list(self.bounds), "boxes": self.boxes.tolist(),
                "circles": self.circles.tolist(), "cell_size": self.cell_size}

    @classmethod
    def from_dict(cls, d: dict, source: str | None = None) -> BoxWorld:
        """From :meth:`to_dict`'s mapping; :class:`~envs.errors.MapFormatError` naming a missing key."""
        for key in ("bounds", "boxes", "circles"):
            if key not in d:
                raise MapFormatError(f"{source or 'world'}: box world field {key!r} is missing")
        return cls(tuple(d["bounds"]), np.array(d["boxes"], dtype=float).reshape(-1, 4),
                   np.array(d["circles"], dtype=float).reshape(-1, 3), str(d.get("name", "boxworld")), source,
                   float(d.get("cell_size", 0.05)))

    # ------------------------------------------------------------------ geometry
    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` (m) of the reference point's region (matplotlib's order)."""
        x0, y0, x1, y1 = self.bounds
        return (x0, x1, y0, y1)

    @property
    def width_m(self) -> float:
        return self.bounds[2] - self.bounds[0]

    @property
    def height_m(self) -> float:
        return self.bounds[3] - self.bounds[1]

    def content_hash(self) -> str:
        """SHA-256 of bounds, obstacles and raster cell size: identifies the world's content."""
        h = hashlib.sha256(b"boxworld")
        h.update(np.asarray(self.bounds, dtype=np.float64).tobytes())
        for a in (self.boxes, self.circles):
            h.update(np.asarray(a.shape, dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        h.update(np.float64(self.cell_size).tobytes())
        return h.hexdigest()

    def contains_reference(self, xy) -> np.ndarray:
        """Whether reference points ``(..., 2)`` lie within ``bounds`` (closed) -> ``(...)`` bool."""
        xy = np.asarray(xy, dtype=float)
        x0, y0, x1, y1 = self.bounds
        return (xy[..., 0] >= x0) & (xy[..., 0] <= x1) & (xy[..., 1] >= y0) & (xy[..., 1] <= y1)

    def in_obstacle(self, xy) -> np.ndarray:
        """Whether points ``(..., 2)`` lie strictly inside a box or circle -> ``(...)`` bool."""
        xy = np.asarray(xy, dtype=float)
        p = xy[..., None, :]
        inside = np.zeros(xy.shape[:-1], dtype=bool)
        if len(self.boxes):
            b = self.boxes
            inside |= np.any((np.abs(p[..., 0] - b[:, 0]) < 0.5 * b[:, 2]) & (np.abs(p[..., 1] - b[:, 1]) < 0.5 * b[:, 3]),
                             axis=-1)
        if len(self.circles):
            c = self.circles
            inside |= np.any((p[..., 0] - c[:, 0]) ** 2 + (p[..., 1] - c[:, 1]) ** 2 < c[:, 2] ** 2, axis=-1)
        return inside

    def is_free_point(self, xy) -> np.ndarray:
        """Whether points ``(..., 2)`` are within ``bounds`` and outside every obstacle."""
        return self.contains_reference(xy) & ~self.in_obstacle(xy)

    def sample_free_points(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points (m) uniform over the free part of ``bounds`` (rejection sampling)."""
        x0, y0, x1, y1 = self.bounds
        out = np.empty((0, 2))
        for _ in range(1000):
            if len(out) >= n:
                break
            pts = rng.uniform((x0, y0), (x1, y1), size=(max(2 * (n - len(out)), 16), 2))
            out = np.concatenate([out, pts[self.is_free_point(pts)]])
        else:  # pragma: no cover - an (almost) fully blocked world
            raise ValueError(f"box world {self.name!r}: no free point found in its bounds")
        return out[:n]

    # ------------------------------------------------------------------ occupancy raster
    @property
    def shape(self) -> tuple[int, int]:
        return self._shape  # type: ignore[attr-defined]

    def cell_to_xy(self, row, col) -> np.ndarray:
        """Raster cell centres: ``row``, ``col`` -> ``(..., 2)`` metres (row 0 at the top)."""
        row = np.asarray(row, dtype=float)
        col = np.asarray(col, dtype=float)
        s, H = self.cell_size, self.shape[0]
        return np.stack([self.bounds[0] + (col + 0.5) * s, self.bounds[1] + (H - row - 0.5) * s], axis=-1)

    def xy_to_cell(self, xy) -> np.ndarray:
        """Points ``(..., 2)`` -> raster cells ``(..., 2)`` (row, col); may lie outside the raster."""
        xy = np.asarray(xy, dtype=float)
        s, H = self.cell_size, self.shape[0]
        col = np.floor((xy[..., 0] - self.bounds[0]) / s)
        row = np.floor(H - (xy[..., 1] - self.bounds[1]) / s)
        return np.stack([row, col], axis=-1).astype(np.int64)

    def in_bounds(self, row, col) -> np.ndarray:
        row, col = np.asarray(row), np.asarray(col)
        H, W = self.shape
        return (row >= 0) & (row < H) & (col >= 0) & (col < W)

    def is_wall_cell(self, row, col) -> np.ndarray:
        """Raster wall test (cells outside the raster are walls)."""
        row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
        H, W = self.shape
        inside = self.in_bounds(row, col)
        return np.where(inside, self.grid[np.clip(row, 0, H - 1), np.clip(col, 0, W - 1)] == 1, True)

    def is_free_cell(self, row, col) -> np.ndarray:
        return ~self.is_wall_cell(row, col)

    def free_cells(self) -> np.ndarray:
        """Free raster cells ``(K, 2)`` (row, col), row-major."""
        return np.argwhere(self.grid == 0)

    def obstacle_polygons(self, margin: float = 0.0, circle_sides: int = 16) -> list[np.ndarray]:
        """Convex polygons ``(V, 2)`` (counter-clockwise) that lie INSIDE the obstacles grown by a disc
        of ``margin`` m: boxes widened by ``margin`` with corners cut at 45 degrees (octagons; plain
        boxes at 0) and circles as inscribed ``circle_sides``-gons of radius ``r + margin``."""
        polys = []
        m = float(margin)
        for cx, cy, sx, sy in self.boxes:
            hx, hy = 0.5 * sx, 0.5 * sy
            if m > 0:  # the corners sit on the grown box's rounded corners at 0, 45 and 90 degrees
                a, b, d = hx + m, hy + m, m / math.sqrt(2)
                pts = [(a, -hy), (a, hy), (hx + d, hy + d), (hx, b), (-hx, b), (-hx - d, hy + d), (-a, hy),
                       (-a, -hy), (-hx - d, -hy - d), (-hx, -b), (hx, -b), (hx + d, -hy - d)]
            else:
                pts = [(hx, -hy), (hx, hy), (-hx, hy), (-hx, -hy)]
            polys.append(np.array(pts) + (cx, cy))
        k = np.arange(circle_sides) * (2 * math.pi / circle_sides)
        for cx, cy, r in self.circles:
            polys.append(np.column_stack([cx + (r + m) * np.cos(k), cy + (r + m) * np.sin(k)]))
        return polys


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))
