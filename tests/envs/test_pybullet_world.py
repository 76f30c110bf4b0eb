"""The PyBullet scene: merged wall boxes, link limits, car bodies, collision filter, client lifetime."""

from __future__ import annotations

import gc

import numpy as np
import pybullet as p
import pytest

from envs.collision import AnalyticCollisionChecker, CollisionChecker, make_checker
from envs.footprint import CAR_FOOTPRINT
from envs.generators import generate, rooms
from envs.pybullet_world import (
    MAX_LINKS,
    ClearanceField,
    PyBulletCollisionChecker,
    PyBulletWorld,
    merge_wall_cells,
)
from envs.world import random_maze

WORLD = rooms(20, 20, seed=0)  # cell (1, 1) is free


def connected(client: int) -> bool:
    return bool(p.getConnectionInfo(physicsClientId=client)["isConnected"])


@pytest.mark.parametrize("kind", ["maze", "forest", "rooms", "serpentine"])
def test_merged_rectangles_cover_exactly_the_wall_cells(kind):
    grid = generate(kind, 21, 21, seed=0).grid
    cover = np.zeros(grid.shape, dtype=int)
    rects = merge_wall_cells(grid)
    for r0, c0, r1, c1 in rects:
        assert r0 < r1 and c0 < c1
        cover[r0:r1, c0:c1] += 1
    np.testing.assert_array_equal(cover, grid)  # disjoint, and their union is the walls
    assert len(rects) < grid.sum() / 1.3  # merging pays off


def test_merge_finds_maximal_boxes():
    g = np.zeros((6, 7), dtype=np.uint8)
    g[1:4, 2:6] = 1  # a 3 x 4 block
    g[5, :] = 1  # a full row
    assert merge_wall_cells(g) == [(1, 2, 4, 6), (5, 0, 6, 7)]


def link_aabbs(world: PyBulletWorld) -> np.ndarray:
    """(x_min, y_min, x_max, y_max) of every wall link actually present in PyBullet."""
    out = []
    for body in world.wall_bodies:
        for link in range(p.getNumJoints(body, physicsClientId=world.client)):
            lo, hi = p.getAABB(body, link, physicsClientId=world.client)
            out.append((lo[0], lo[1], hi[0], hi[1]))
    return np.array(out)


def test_walls_in_pybullet_match_the_boxes_and_respect_the_link_limit():
    # a maze with no loops merges badly: well over 127 boxes, so several multibodies are needed
    maze = random_maze(41, 41, seed=0, loop_fraction=0.0)
    with PyBulletWorld(maze, max_bodies=4) as world:
        boxes = world.wall_boxes()
        assert len(boxes) == len(merge_wall_cells(maze.grid)) + 4 > MAX_LINKS
        assert len(world.wall_bodies) == -(-len(boxes) // MAX_LINKS)
        counts = [p.getNumJoints(b, physicsClientId=world.client) for b in world.wall_bodies]
        assert max(counts) <= MAX_LINKS and sum(counts) == len(boxes)
        aabb = link_aabbs(world)
        expected = np.column_stack([boxes[:, :2] - boxes[:, 2:], boxes[:, :2] + boxes[:, 2:]])
        # Bullet pads AABBs by its contact margin: compare up to that padding
        pad = aabb[:, :2] - expected[:, :2]
        assert np.all((pad <= 0) & (pad > -0.05))
        np.testing.assert_allclose(aabb[:, 2:] - expected[:, 2:], -pad, atol=1e-9)
        # the frame encloses the map on all sides
        x0, x1, y0, y1 = maze.bounds
        assert aabb[:, 0].min() < x0 - 0.9 and aabb[:, 2].max() > x1 + 0.9
        assert aabb[:, 1].min() < y0 - 0.9 and aabb[:, 3].max() > y1 + 0.9


def test_car_bodies_have_the_footprint_shape():
    with PyBulletWorld(WORLD, max_bodies=3, margin=0.0) as world:
        assert len(world.car_bodies) == 3
        car = int(world.car_bodies[0])
        p.resetBasePositionAndOrientation(car, [0.0, 0.0, 0.0], [0, 0, 0, 1], physicsClientId=world.client)
        lo, hi = p.getAABB(car, -1, physicsClientId=world.client)
        size = np.subtract(hi, lo)[:2]
        pad = size - [CAR_FOOTPRINT.length, CAR_FOOTPRINT.width]
        assert np.all(pad >= 0) and np.all(pad < 0.1)
        np.testing.assert_allclose(pad[0], pad[1], atol=1e-9)  # same padding on both: 0.35 x 0.2 box


def test_cars_never_collide_with_each_other():
    free = WORLD.cell_to_xy(1, 1)
    with PyBulletCollisionChecker(WORLD, broad_phase=False, batch_size=64) as checker:
        same = np.tile([free[0], free[1], 0.3], (64, 1))  # 64 cars on top of each other, clear of walls
        assert not checker.collides(same).any()
        contacts = p.getContactPoints(physicsClientId=checker.pybullet.client)
        assert contacts == () or len(contacts) == 0
        stuck = np.tile([free[0] - 0.45, free[1], 0.0], (64, 1))  # all half in the left wall
        assert checker.collides(stuck).all()


def test_each_world_has_its_own_client_and_leaves_others_alone():
    sentinel = p.connect(p.DIRECT)
    try:
        a = PyBulletCollisionChecker(WORLD)
        b = PyBulletCollisionChecker(WORLD)
        assert len({sentinel, a.pybullet.client, b.pybullet.client}) == 3
        poses = np.column_stack([WORLD.sample_free_points(np.random.default_rng(0), 500), np.zeros(500)])
        expected = AnalyticCollisionChecker(WORLD).collides(poses)
        np.testing.assert_array_equal(a.collides(poses), expected)
        a.close()
        assert not connected(a.pybullet.client) and connected(b.pybullet.client)
        np.testing.assert_array_equal(b.collides(poses), expected)
        b.close()
        assert p.getNumBodies(physicsClientId=sentinel) == 0  # no call strayed into another client
    finally:
        p.disconnect(physicsClientId=sentinel)


def test_close_is_idempotent_and_checked():
    checker = PyBulletCollisionChecker(WORLD)
    cid = checker.pybullet.client
    checker.close()
    checker.close()
    assert checker.pybullet.closed and not connected(cid)
    with pytest.raises(RuntimeError, match="closed"):
        checker.collides(np.zeros((1, 3)))
    with PyBulletWorld(WORLD, max_bodies=1) as world:
        cid = world.client
        assert connected(cid)
    assert not connected(cid) and "closed" in repr(world)


def test_garbage_collection_disconnects_and_many_checkers_are_fine():
    clients = []
    for _ in range(40):
        checker = make_checker(WORLD, backend="pybullet")
        clients.append(checker.pybullet.client)
        assert checker.collides(np.array([[0.0, 0.0, 0.0]])).shape == (1,)
        del checker
    gc.collect()
    assert not any(connected(c) for c in clients)


def test_pybullet_checker_is_a_collision_checker():
    with PyBulletCollisionChecker(WORLD) as checker:
        assert isinstance(checker, CollisionChecker)
        assert checker.world is WORLD and checker.footprint == CAR_FOOTPRINT
        with pytest.raises(ValueError, match="poses must be"):
            checker.collides(np.zeros((4, 2)))
        assert checker.collides(np.zeros((0, 3))).shape == (0,)


def test_constructor_validation():
    with pytest.raises(ValueError, match="max_bodies"):
        PyBulletWorld(WORLD, max_bodies=0)
    with pytest.raises(ValueError, match="margin"):
        PyBulletCollisionChecker(WORLD, margin=-1e-3)
    with pytest.raises(ValueError, match="collision backend"):
        make_checker(WORLD, backend="mujoco")


def test_clearance_field_bounds_the_wall_distance():
    field = ClearanceField(WORLD, radius=CAR_FOOTPRINT.circumradius, inner_radius=CAR_FOOTPRINT.half_width)
    rng = np.random.default_rng(1)
    x0, x1, y0, y1 = WORLD.bounds
    pts = np.column_stack([rng.uniform(x0, x1, 20000), rng.uniform(y0, y1, 20000)])
    # exact distance from each point to the nearest wall cell
    walls = np.argwhere(WORLD.grid == 1)
    lo = WORLD.cell_to_xy(walls[:, 0], walls[:, 1]) - 0.5
    gap = np.maximum(0.0, np.maximum(lo[None] - pts[:, None], pts[:, None] - (lo[None] + 1.0)))
    dist = np.linalg.norm(gap, axis=-1).min(axis=1)
    r = ((WORLD.height_m / 2 - pts[:, 1]) // field.pixel).astype(int)
    c = ((pts[:, 0] + WORLD.width_m / 2) // field.pixel).astype(int)
    bound = field.lower[r, c]
    assert np.all(bound <= dist + 1e-6)
    assert np.all((bound < 0) == ~WORLD.is_free_point(pts))
    state = field.classify(pts)
    assert np.all(dist[state == 1] > field.radius)  # certainly free
    assert np.all(dist[state == -1] < field.inner_radius)  # certainly colliding (or inside a wall)
    assert ((state == -1) & (dist > 0)).any() and (state == 1).any() and (state == 0).any()
    # a one-pixel-wide undecided band remains on each side of the two radii
    assert np.all((dist > field.radius + 2 * field.pixel) <= (state == 1))
    assert np.all((dist < field.inner_radius - 2 * field.pixel) <= (state == -1))
    assert 0.5 < field.fraction_free() < 1.0
    np.testing.assert_array_equal([field.classify_one(*q) for q in pts[:500]], state[:500])
    assert (field.classify(np.array([[x1 + 0.1, 0.0], [np.nan, 0.0]])) == -1).all()
    assert field.classify_one(np.nan, 0.0) == -1
