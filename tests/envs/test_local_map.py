"""Egocentric occupancy crops (docs/policy.md, 'Policy inputs'): layout, rotation, outside = wall, mirroring,
numpy vs torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.generators import forest
from envs.local_map import LocalMapSpec, TorchLocalMapper, local_maps, local_maps_torch
from envs.world import GridMap

SPEC = LocalMapSpec()
S = SPEC.size
WORLD = forest(20, 20, seed=0, density=0.2)  # open space and scattered walls


def random_poses(world: GridMap, n: int, seed: int, margin: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = world.bounds
    return np.column_stack(
        [
            rng.uniform(x0 - margin, x1 + margin, n),
            rng.uniform(y0 - margin, y1 + margin, n),
            rng.uniform(-math.pi, math.pi, n),
        ]
    )


def sample_points(poses: np.ndarray) -> np.ndarray:
    """World coordinates ``(N, S, S, 2)`` of every crop pixel (the documented layout)."""
    off = SPEC.offsets()
    c, s = np.cos(poses[:, 2])[:, None, None], np.sin(poses[:, 2])[:, None, None]
    fx, fy = off[..., 0], off[..., 1]
    return np.stack([poses[:, 0, None, None] + c * fx - s * fy, poses[:, 1, None, None] + s * fx + c * fy], -1)


def near_cell_boundary(world: GridMap, pts: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Points within ``tol`` m of a cell boundary, where float32 and float64 may pick different cells."""
    u = (pts[..., 0] + world.width_m / 2) / world.cell_size
    v = (world.height_m / 2 - pts[..., 1]) / world.cell_size
    return (np.abs(u - np.round(u)) < tol) | (np.abs(v - np.round(v)) < tol)


def test_shape_values_and_layout_offsets():
    poses = random_poses(WORLD, 50, seed=0)
    crops = local_maps(WORLD, poses)
    assert crops.shape == (50, S, S) and crops.dtype == np.float32
    assert set(np.unique(crops)) <= {-1.0, 1.0}
    off = SPEC.offsets()
    np.testing.assert_allclose(off[0, 0], [1.9, 1.9])  # row 0 farthest ahead, column 0 farthest left
    np.testing.assert_allclose(off[-1, -1], [-1.9, -1.9])
    # every pixel is the occupancy of the cell under its documented sample point
    pts = sample_points(poses)
    rc = WORLD.xy_to_cell(pts)
    expected = np.where(WORLD.is_wall_cell(rc[..., 0], rc[..., 1]), 1.0, -1.0)
    np.testing.assert_array_equal(crops, expected)


def open_world(n: int = 9) -> GridMap:
    g = np.zeros((n, n), dtype=np.uint8)
    g[0], g[-1], g[:, 0], g[:, -1] = 1, 1, 1, 1
    return GridMap(g, name="open")


def test_wall_ahead_shows_in_the_top_rows():
    g = open_world().grid.copy()
    g[4, 6] = 1  # two cells ahead (+x) of a car in cell (4, 4) heading 0
    w = GridMap(g)
    x, y = w.cell_to_xy(4, 4) + [0.05, 0.03]
    crop = local_maps(w, np.array([[x, y, 0.0]]))[0]
    expected = -np.ones((S, S), dtype=np.float32)
    # wall spans forward [1.45, 2.45] m -> rows 0..2; left [-0.53, 0.47] m -> columns 8..12
    expected[0:3, 8:13] = 1.0
    np.testing.assert_array_equal(crop, expected)


def test_wall_on_the_left_shows_in_the_first_columns():
    g = open_world().grid.copy()
    g[2, 4] = 1  # two cells towards +y = left of a car heading +x
    w = GridMap(g)
    x, y = w.cell_to_xy(4, 4) + [0.05, 0.03]
    crop = local_maps(w, np.array([[x, y, 0.0]]))[0]
    expected = -np.ones((S, S), dtype=np.float32)
    # wall spans left [1.47, 2.47] m -> columns 0..2; forward [-0.55, 0.45] m -> rows 8..12
    expected[8:13, 0:3] = 1.0
    np.testing.assert_array_equal(crop, expected)
    # the same wall is ahead for a car heading +y (90 deg): top rows, columns 8..12 (left = -x)
    crop90 = local_maps(w, np.array([[x, y, math.pi / 2]]))[0]
    assert crop90[0:3].max() == 1.0 and crop90[3:].max() == -1.0
    np.testing.assert_array_equal(np.flatnonzero(crop90[0] > 0), [7, 8, 9, 10, 11])


def test_rotating_the_car_90_degrees_rotates_the_crop():
    poses = random_poses(WORLD, 300, seed=1)
    turned = poses + [0.0, 0.0, math.pi / 2]
    a, b = local_maps(WORLD, poses), local_maps(WORLD, turned)
    # turning the car left (CCW) by 90 deg turns its view clockwise: new[i, j] = old[S-1-j, i]
    np.testing.assert_array_equal(b, np.rot90(a, k=-1, axes=(1, 2)))
    np.testing.assert_array_equal(local_maps(WORLD, poses + [0.0, 0.0, math.pi]), np.rot90(a, k=2, axes=(1, 2)))


def test_outside_the_map_is_wall():
    w = GridMap(np.zeros((3, 3), dtype=np.uint8))  # all free, 3 m x 3 m; the crop is 4 m x 4 m
    crop = local_maps(w, np.array([[0.013, -0.021, 0.0]]))[0]
    off = SPEC.offsets()
    outside = (np.abs(off[..., 0] + 0.013) > 1.5) | (np.abs(off[..., 1] - 0.021) > 1.5)
    np.testing.assert_array_equal(crop, np.where(outside, 1.0, -1.0))
    far = local_maps(w, np.array([[100.0, 50.0, 0.3]]))[0]
    assert (far == 1.0).all()
    t = TorchLocalMapper(w)(torch.tensor([[0.013, -0.021, 0.0], [100.0, 50.0, 0.3]]))
    np.testing.assert_array_equal(t.numpy(), [crop, far])


def test_mirrored_world_gives_the_flipped_crop():
    poses = random_poses(WORLD, 300, seed=2, margin=1.0)
    mirrored_world = GridMap(np.flipud(WORLD.grid), name="boxes_mirrored")
    mirrored = poses * [1.0, -1.0, -1.0]
    np.testing.assert_array_equal(local_maps(mirrored_world, mirrored), local_maps(WORLD, poses)[..., ::-1])


def compare_with_torch(device: str) -> None:
    poses = random_poses(WORLD, 2000, seed=3, margin=2.0)
    ref = local_maps(WORLD, poses)
    got = TorchLocalMapper(WORLD, device=device)(torch.from_numpy(poses))
    assert got.device.type == device and got.dtype == torch.float32 and got.shape == (2000, S, S)
    got = got.cpu().numpy()
    # torch works in float32: only sample points within 0.1 mm of a cell boundary may differ
    ambiguous = near_cell_boundary(WORLD, sample_points(poses))
    assert ambiguous.mean() < 1e-3
    mismatch = (got != ref) & ~ambiguous
    assert not mismatch.any(), f"{mismatch.sum()} pixels differ away from cell boundaries"
    one_shot = local_maps_torch(WORLD, torch.from_numpy(poses[:10]).to(device))
    np.testing.assert_array_equal(one_shot.cpu().numpy(), got[:10])


def test_numpy_and_torch_agree_on_cpu():
    compare_with_torch("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_numpy_and_torch_agree_on_cuda():
    compare_with_torch("cuda")


def test_spec_validation():
    with pytest.raises(ValueError, match="size"):
        LocalMapSpec(size=0)
    small = LocalMapSpec(size=4, resolution=0.5)
    assert local_maps(WORLD, random_poses(WORLD, 3, seed=4), small).shape == (3, 4, 4)
