"""Egocentric occupancy crops (docs/policy.md, 'Policy inputs'), batched over poses, in numpy and torch.

A crop is ``size x size`` pixels of ``resolution`` metres (default 20 x 20 at 0.2 m: 4 m x 4 m),
centred on the robot and rotated with its heading. Pixel ``[i, j]`` samples the world at the
car-frame point::

    forward = (size/2 - 0.5 - i) * resolution      (row 0 is farthest ahead)
    left    = (size/2 - 0.5 - j) * resolution      (column 0 is farthest left)

Walls are +1, free space -1, and everything outside the map is wall. Mirroring the world
left/right (docs/policy.md, 'Mirror augmentation') is therefore a flip of the last axis.

In a :class:`~envs.box_world.BoxWorld` each pixel's sample point is tested against the boxes and
circles exactly (the crop is rasterised at the policy's resolution, whatever the world's raster), and
points outside the world's ``bounds`` are wall: those bounds restrict the robot's reference point,
so the robot cannot go there, which is what a wall tells the policy (even though a footprint may
stick out of the bounds without colliding).

The policy calls :func:`local_maps_torch` in its hot loop, so it works on whatever device the
grid tensor lives on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.box_world import BoxWorld
from envs.world import World

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]


@dataclass(frozen=True)
class LocalMapSpec:
    """Geometry of the egocentric crop: ``size`` pixels per side of ``resolution`` metres."""

    size: int = 20
    resolution: float = 0.2

    def __post_init__(self) -> None:
        if self.size < 1 or not self.resolution > 0:
            raise ValueError(f"LocalMapSpec needs size >= 1 and resolution > 0, got {self}")

    def offsets(self) -> np.ndarray:
        """Car-frame sample points ``(size, size, 2)`` = (forward, left) in metres."""
        k = (self.size / 2 - 0.5 - np.arange(self.size)) * self.resolution
        fwd, left = np.meshgrid(k, k, indexing="ij")
        return np.stack([fwd, left], axis=-1)


def local_maps(world: World, poses: np.ndarray, spec: LocalMapSpec = LocalMapSpec()) -> np.ndarray:
    """Crops for poses ``(N, >=3)`` = (x, y, yaw, ...) -> ``(N, size, size)`` float32 in {-1, +1}."""
    poses = np.asarray(poses, dtype=float)
    off = spec.offsets()  # (S, S, 2)
    c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
    fx, fy = off[..., 0], off[..., 1]
    wx = poses[:, 0, None, None] + c[:, None, None] * fx - s[:, None, None] * fy
    wy = poses[:, 1, None, None] + s[:, None, None] * fx + c[:, None, None] * fy
    if isinstance(world, BoxWorld):
        wall = ~world.is_free_point(np.stack([wx, wy], axis=-1))
        return np.where(wall, 1.0, -1.0).astype(np.float32)
    H, W = world.grid.shape
    cs = world.cell_size
    col = np.floor((wx + W * cs / 2) / cs).astype(np.int64)
    row = np.floor((H * cs / 2 - wy) / cs).astype(np.int64)
    inside = (row >= 0) & (row < H) & (col >= 0) & (col < W)
    occ = np.where(inside, world.grid[np.clip(row, 0, H - 1), np.clip(col, 0, W - 1)], 1)
    return (2.0 * occ - 1.0).astype(np.float32)


class TorchLocalMapper:
    """Batched crops on a torch device. Holds the grid and sample offsets as tensors so that
    each call is a handful of kernels with no host transfer beyond the poses."""

    def __init__(self, world: World, spec: LocalMapSpec = LocalMapSpec(), device="cpu") -> None:
        self.world = world
        self.spec = spec
        self.device = torch.device(device)
        off = torch.as_tensor(spec.offsets(), dtype=torch.float32, device=self.device)
        self._fx = off[..., 0]
        self._fy = off[..., 1]
        self._boxworld = isinstance(world, BoxWorld)
        if self._boxworld:  # obstacles as tensors: (B, 4) box (x0, x1, y0, y1), (M, 3) circles, bounds
            b = world.boxes
            box = np.column_stack([b[:, 0] - b[:, 2] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] - b[:, 3] / 2,
                                   b[:, 1] + b[:, 3] / 2]).reshape(-1, 4)
            self._boxes = torch.as_tensor(box, dtype=torch.float64, device=self.device)
            self._circles = torch.as_tensor(np.array(world.circles), dtype=torch.float64, device=self.device)
            return
        H, W = world.grid.shape
        # pad with a one-cell wall ring so out-of-map lookups clamp onto wall
        padded = np.ones((H + 2, W + 2), dtype=np.float32)
        padded[1:-1, 1:-1] = world.grid
        self._grid = torch.as_tensor(2.0 * padded - 1.0, device=self.device).flatten()
        self._W2 = W + 2
        self._H2 = H + 2

    def __call__(self, poses: torch.Tensor) -> torch.Tensor:
        """Poses ``(N, >=3)`` on any device -> crops ``(N, size, size)`` float32 on ``self.device``."""
        poses = poses.to(self.device, torch.float32)
        w = self.world
        c = torch.cos(poses[:, 2])[:, None, None]
        s = torch.sin(poses[:, 2])[:, None, None]
        wx = poses[:, 0, None, None] + c * self._fx - s * self._fy
        wy = poses[:, 1, None, None] + s * self._fx + c * self._fy
        if self._boxworld:
            return self._box_crops(wx, wy)
        cs = w.cell_size
        col = torch.floor((wx + w.width_m / 2) / cs).long() + 1
        row = torch.floor((w.height_m / 2 - wy) / cs).long() + 1
        col = col.clamp(0, self._W2 - 1)
        row = row.clamp(0, self._H2 - 1)
        return self._grid[row * self._W2 + col]

    def _box_crops(self, wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
        """BoxWorld crops from the sample points ``(N, S, S)``: exact point tests, as ``local_maps``."""
        x, y = wx.double()[..., None], wy.double()[..., None]
        x0, y0, x1, y1 = self.world.bounds
        wall = (x[..., 0] < x0) | (x[..., 0] > x1) | (y[..., 0] < y0) | (y[..., 0] > y1)
        b = self._boxes
        if len(b):
            wall |= ((x > b[:, 0]) & (x < b[:, 1]) & (y > b[:, 2]) & (y < b[:, 3])).any(-1)
        cr = self._circles
        if len(cr):
            wall |= ((x - cr[:, 0]) ** 2 + (y - cr[:, 1]) ** 2 < cr[:, 2] ** 2).any(-1)
        return torch.where(wall, 1.0, -1.0).to(torch.float32)


def local_maps_torch(world: World, poses: torch.Tensor, spec: LocalMapSpec = LocalMapSpec()) -> torch.Tensor:
    """One-shot torch version of :func:`local_maps` (builds a :class:`TorchLocalMapper`)."""
    return TorchLocalMapper(world, spec, poses.device)(poses)
