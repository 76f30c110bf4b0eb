"""Multi-body footprints: every body is checked, by both checkers, and bodies of one robot do not
collide with each other unless the robot says so. The two-body robot is ``TrailerCar`` (tests/conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
import pytest
from two_body_robot import TrailerCar

from envs.car import Car
from envs.collision import (
    AnalyticCollisionChecker,
    checked_rollout,
    make_checker,
    rectangles_overlap,
    robot_collides,
)
from envs.errors import ScenarioError
from envs.footprint import CAR_FOOTPRINT, Footprint, as_bodies
from envs.generators import forest
from envs.problem import Problem
from envs.pybullet_world import PyBulletCollisionChecker, PyBulletWorld, near_contact_poses
from envs.robot import check_robot
from envs.world import GridMap

# 3 x 3 free cells (1 m) inside a border wall: free space is x, y in [-1.5, 1.5]
ROOM = np.ones((5, 5), dtype=np.uint8)
ROOM[1:4, 1:4] = 0
BOX = GridMap(ROOM, 1.0, "room")
TRAILER_IN_WALL = np.array([[-0.9, 0.0, 0.0, 0.0]])  # car spans x in [-1.15, -0.65]; trailer [-1.55, -1.25]
CAR_IN_WALL = np.array([[1.3, 0.0, 0.0, 0.0]])  # car reaches x = 1.55; trailer [0.65, 0.95]
CLEAR = np.array([[0.3, 0.0, 0.0, 0.0]])


def test_the_test_robot_is_a_robot_with_two_bodies(trailer_car):
    check_robot(trailer_car)
    poses = trailer_car.footprint_poses(np.zeros((7, 3, 4)))
    assert poses.shape == (7, 3, 2, 3)
    np.testing.assert_allclose(poses[0, 0, 1], [-0.5, 0.0, 0.0])  # the trailer 0.5 m behind
    car = Car()
    check_robot(car)
    assert car.bodies == (CAR_FOOTPRINT,) and car.self_collision_pairs == ()
    s = np.random.default_rng(0).normal(size=(5, 6))
    np.testing.assert_array_equal(car.footprint_poses(s), s[:, None, :3])


@pytest.mark.parametrize("backend", ["analytic", "pybullet"])
def test_the_second_body_is_checked(trailer_car, backend):
    checker = make_checker(BOX, trailer_car.bodies, backend=backend)
    states = np.concatenate([TRAILER_IN_WALL, CAR_IN_WALL, CLEAR])
    np.testing.assert_array_equal(robot_collides(trailer_car, checker, states), [True, True, False])
    # the trailer's hit is the trailer's alone: a checker of the car body finds nothing there
    car_only = make_checker(BOX, trailer_car.bodies[0], backend=backend)
    assert not car_only.collides(trailer_car.footprint_poses(TRAILER_IN_WALL)[:, :1])[0]
    # batched states of any leading shape
    grid = np.broadcast_to(states, (2, 3, 4))
    assert robot_collides(trailer_car, checker, grid).shape == (2, 3)
    if hasattr(checker, "close"):
        checker.close()


def _states_near_walls(robot, world: GridMap, n: int, rng: np.random.Generator) -> np.ndarray:
    """States whose car body or trailer (half each) grazes a wall within 10 um..3 mm, either side."""
    trailer = near_contact_poses(world, n // 2, rng, robot.bodies[1])
    t_yaw = trailer[:, 2]
    by_trailer = np.column_stack(
        [trailer[:, 0] + robot.hitch * np.cos(t_yaw), trailer[:, 1] + robot.hitch * np.sin(t_yaw),
         t_yaw + rng.uniform(-1, 1, len(t_yaw)), t_yaw]
    )
    car = near_contact_poses(world, n - n // 2, rng, robot.bodies[0])
    by_car = np.column_stack([car, car[:, 2] + rng.uniform(-1, 1, len(car))])
    out = np.concatenate([by_trailer, by_car])
    out[:, 2:] = (out[:, 2:] + np.pi) % (2 * np.pi) - np.pi
    return out


@pytest.mark.parametrize("robot", [Car(), TrailerCar()], ids=["K=1", "K=2"])
@pytest.mark.parametrize("broad_phase", [True, False])
def test_analytic_and_pybullet_agree_near_walls(robot, broad_phase):
    rng = np.random.default_rng(1)
    world = forest(15, 15, seed=2)  # scattered blocks: many corners and sides to touch
    if robot.bodies == (CAR_FOOTPRINT,):
        states = np.zeros((2000, 6))
        states[:, :3] = near_contact_poses(world, 2000, rng)
    else:
        states = _states_near_walls(robot, world, 2000, rng)
    exact = robot_collides(robot, AnalyticCollisionChecker(world, robot.bodies), states)
    with PyBulletCollisionChecker(world, robot.bodies, broad_phase=broad_phase) as checker:
        got = robot_collides(robot, checker, states)
    assert 0.2 < exact.mean() < 0.95  # the set really straddles contact
    assert int((got != exact).sum()) == 0
    if len(robot.bodies) == 2:  # and the trailer decides a good share of them
        first = AnalyticCollisionChecker(world, robot.bodies[0]).collides(robot.footprint_poses(states)[:, 0])
        assert (exact & ~first).mean() > 0.2


def test_a_robots_bodies_do_not_collide_with_each_other_unless_it_says_so():
    folded = np.array([[0.0, 0.0, 0.3, 0.3], [0.2, -0.1, -0.4, 0.9]])  # hitch 0.3 m: the trailer overlaps the car
    loose, strict = TrailerCar(hitch=0.3), TrailerCar(hitch=0.3, self_collision_pairs=((0, 1),))
    poses = loose.footprint_poses(folded)
    assert rectangles_overlap(loose.bodies[0], poses[:, 0], loose.bodies[1], poses[:, 1]).all()
    with PyBulletCollisionChecker(BOX, loose.bodies, broad_phase=False) as pyb:
        for checker in (AnalyticCollisionChecker(BOX, loose.bodies), pyb):
            assert not robot_collides(loose, checker, folded).any()
            assert robot_collides(strict, checker, folded).all()
        # PyBullet saw the two boxes overlap and reported no contact between them at all
        assert len(p.getContactPoints(physicsClientId=pyb.pybullet.client)) == 0
    with pytest.raises(TypeError, match="self_collision_pairs"):
        check_robot(TrailerCar(self_collision_pairs=((0, 2),)))


def test_rectangles_overlap_agrees_with_the_grid_checker_on_a_single_wall_cell():
    # one wall cell (an axis-aligned 1 m square at the origin) in a big free map: the grid checker
    # answers "does the rectangle overlap that square", an independent implementation
    g = np.zeros((9, 9), dtype=np.uint8)
    g[4, 4] = 1
    world = GridMap(g, 1.0, "one_cell")
    rng = np.random.default_rng(2)
    fp = Footprint(0.9, 0.3)
    poses = np.column_stack([rng.uniform(-1.2, 1.2, (3000, 2)), rng.uniform(-math.pi, math.pi, 3000)])
    cell = np.zeros((3000, 3))
    a = rectangles_overlap(fp, poses, Footprint(1.0, 1.0), cell)
    b = rectangles_overlap(Footprint(1.0, 1.0), cell, fp, poses)
    np.testing.assert_array_equal(a, AnalyticCollisionChecker(world, fp).collides(poses))
    np.testing.assert_array_equal(a, b)
    assert 0.2 < a.mean() < 0.9
    touching = np.array([[0.95, 0.0, 0.0]])  # front edge of a 0.9 m box on the cell's face
    assert not rectangles_overlap(fp, touching, Footprint(1.0, 1.0), np.zeros((1, 3)))[0]


def test_pybullet_world_has_one_box_per_body_per_slot(trailer_car):
    with PyBulletWorld(BOX, trailer_car.bodies, max_bodies=3, margin=0.0) as world:
        assert world.slot_bodies.shape == (3, 2) and len(world.car_bodies) == 6
        for k, body in enumerate(trailer_car.bodies):
            box = int(world.slot_bodies[1, k])
            p.resetBasePositionAndOrientation(box, [0.0, 0.0, 0.0], [0, 0, 0, 1], physicsClientId=world.client)
            lo, hi = p.getAABB(box, -1, physicsClientId=world.client)
            pad = np.subtract(hi, lo)[:2] - [body.length, body.width]
            assert np.all(pad >= 0) and np.all(pad < 0.1)
            np.testing.assert_allclose(pad[0], pad[1], atol=1e-9)
        parked = {tuple(world.park_position(j, k)) for j in range(3) for k in range(2)}
        assert len(parked) == 6  # no two boxes share a parking spot
        with pytest.raises(ValueError, match="2 bodies"):
            _ = world.footprint


def test_checkers_refuse_ambiguous_poses(trailer_car):
    checker = AnalyticCollisionChecker(BOX, trailer_car.bodies)
    with pytest.raises(ValueError, match=r"\(N, 2, 3\)"):
        checker.collides(np.zeros((3, 4)))  # states, not body poses
    with pytest.raises(ValueError, match="2 bodies"):
        _ = checker.footprint
    with pytest.raises(ValueError, match="has 2 bodies but the checker has 1"):
        robot_collides(trailer_car, AnalyticCollisionChecker(BOX), CLEAR)
    with PyBulletCollisionChecker(BOX, trailer_car.bodies) as pyb:
        with pytest.raises(ValueError, match=r"\(N, 2, 3\)"):
            pyb.collides(np.zeros((3, 4)))
        with pytest.raises(ValueError, match="one-body"):
            pyb.collides_pose(0.0, 0.0, 0.0)
        assert pyb.collides(np.zeros((0, 2, 3))).shape == (0,)
        # a body centre outside the map collides (the car inside, the trailer beyond the frame)
        assert pyb.collides(np.array([[[1.2, 0.0, 0.0], [9.0, 0.0, 0.0]]]))[0]
    assert as_bodies(CAR_FOOTPRINT) == (CAR_FOOTPRINT,)
    with pytest.raises(ValueError, match="at least one body"):
        as_bodies(())


def test_problem_checks_every_body_of_the_start(trailer_car):
    with pytest.raises(ScenarioError, match="in collision"):
        Problem(trailer_car, BOX, TRAILER_IN_WALL[0], np.array([0.5, 0.5]))
    prob = Problem(trailer_car, BOX, CLEAR[0], np.array([0.5, 0.5]))
    assert prob.robot is trailer_car


@pytest.mark.parametrize("backend", ["analytic", "pybullet"])
def test_checked_rollout_stops_where_the_trailer_first_touches(trailer_car, backend):
    # the car drives straight along y = -0.3 clear of a wall cell below the lane; its trailer,
    # swung 1 rad to the right, sweeps through that cell
    g = np.zeros((5, 9), dtype=np.uint8)
    g[0] = g[-1] = 1
    g[:, 0] = g[:, -1] = 1
    g[3, 4] = 1
    world = GridMap(g, 1.0, "lane")
    start = np.array([[-0.7, -0.3, 0.0, 1.0]])
    u = np.tile([0.5, 0.0], (1, 30, 1))
    states = trailer_car.rollout(start, u)[0]
    poses = trailer_car.footprint_poses(states)
    assert not AnalyticCollisionChecker(world, trailer_car.bodies[0]).collides(poses[:, 0]).any()
    first = int(np.flatnonzero(AnalyticCollisionChecker(world, trailer_car.bodies[1]).collides(poses[:, 1]))[0])
    checker = make_checker(world, trailer_car.bodies, backend=backend)
    res = checked_rollout(trailer_car, checker, start, u, goal=states[-1, :2], goal_radius=0.1)
    assert res.first_collision.tolist() == [first] and res.first_goal.tolist() == [-1]
    assert res.valid_length.tolist() == [first - 1]
    if hasattr(checker, "close"):
        checker.close()
