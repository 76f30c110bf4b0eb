"""Every registered robot (the built-ins and the README's example unicycle, registered from
examples/unicycle.py by tests/conftest.py) satisfies the Robot protocol; the car's behaviour is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from envs.car import Car
from envs.errors import DitreeInputError
from envs.problem import validation_problem
from envs.racecar import Racecar
from envs.registry import make_robot, registered_robots
from envs.robot import Robot, check_robot


@pytest.mark.parametrize("name", registered_robots())
def test_robots_satisfy_protocol(name):
    robot = make_robot(name)
    assert isinstance(robot, Robot) and robot.name == name
    check_robot(robot)
    rng = np.random.default_rng(0)
    x0 = np.stack([robot.rest_state(0.0, 0.0, 0.0), robot.rest_state(1.0, 2.0, 1.0)])
    u = robot.sample_controls(rng, (2, 5))
    assert u.shape == (2, 5, robot.control_dim)
    assert np.all(u >= robot.control_low) and np.all(u <= robot.control_high)
    x = robot.rollout(x0, u)
    assert x.shape == (2, 6, robot.state_dim)
    np.testing.assert_array_equal(robot.pose(x), x[..., :3])
    # K bodies, the first centred on the pose (``footprint``), no self collision unless listed
    K = len(robot.bodies)
    assert robot.bodies[0] == robot.footprint and getattr(robot, "self_collision_pairs", ()) == ()
    body_poses = robot.footprint_poses(x)
    assert body_poses.shape == (2, 6, K, 3)
    np.testing.assert_array_equal(body_poses[..., 0, :], x[..., :3])
    assert robot.speed(x).shape == (2, 6) and robot.top_speed > 0 and robot.dt > 0


def test_car_protocol_additions_match_state():
    car = Car()
    x = car.rollout(car.rest_state(0, 0, 0)[None], np.tile([[10.0, 0.5]], (1, 20, 1)))
    np.testing.assert_array_equal(car.speed(x), x[..., 3])
    assert car.top_speed == car.params.top_speed


def test_unknown_robot_and_incomplete_robot():
    with pytest.raises(DitreeInputError, match="unknown robot 'ant'; registered robots: car, racecar"):
        make_robot("ant")
    with pytest.raises(TypeError, match="missing"):
        check_robot(object())

    shapeless = Car()
    shapeless.bodies = ()
    with pytest.raises(TypeError, match="bodies must be a non-empty tuple"):
        check_robot(shapeless)


@pytest.mark.requires_data
def test_problem_takes_robot_and_its_cell_size():
    car_p = validation_problem("val_maze_small")
    rc_p = validation_problem("val_maze_small", robot=Racecar())
    assert car_p.world.cell_size == 1.0 and rc_p.world.cell_size == 2.0
    assert rc_p.start.shape == (24,) and car_p.start.shape == (6,)
    np.testing.assert_allclose(rc_p.goal, 2 * car_p.goal)
    with pytest.raises(ValueError, match="start must have 24 entries"):
        type(rc_p)(rc_p.robot, rc_p.world, car_p.start * 2, rc_p.goal)
