"""Goal regions (envs/goal.py): the robots' weighted, angle-aware metric, discs, state goals, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from envs.car import Car
from envs.errors import DitreeInputError
from envs.goal import DiscGoal, GoalRegion, StateGoal, goal_from_dict, state_distance, weighted_distance
from envs.racecar import Racecar
from envs.robot import check_robot


def test_yaw_differences_wrap_around():
    car = Car()
    g = np.array([0.0, 0.0, math.pi - 0.01, 0.0, 0.0, 0.0])
    x = np.array([0.0, 0.0, -math.pi + 0.01, 0.0, 0.0, 0.0])
    # 0.02 rad apart across the wrap, not 2 pi - 0.02
    assert state_distance(car, x, g) == pytest.approx(0.02 * 0.5, abs=1e-12)
    assert state_distance(car, g, x) == pytest.approx(0.01, abs=1e-12)
    # a heading 2 pi away is the same heading
    y = g.copy()
    y[2] -= 2 * math.pi
    assert state_distance(car, y, g) == pytest.approx(0.0, abs=1e-12)


def test_car_metric_terms_and_batch_shapes():
    car = Car()
    g = np.array([1.0, 2.0, 0.5, 1.0, 0.3, 0.1])
    x = np.array([4.0, 6.0, 0.0, 3.0, -1.0, -0.4])  # |dp| = 5, |dyaw| = 0.5, |dv| = 2; D, delta ignored
    assert state_distance(car, x, g) == pytest.approx(5.0 + 0.5 * 0.5 + 0.25 * 2.0)
    batch = np.stack([x, g, x]).reshape(3, 1, 6)
    d = state_distance(car, batch, g)
    assert d.shape == (3, 1)
    np.testing.assert_allclose(d[:, 0], [5.75, 0.0, 5.75])


def test_every_angle_component_wraps_and_zero_weights_are_ignored():
    # a 4-D state with two angles (like a car with a trailer): weights (|dp|, |dth0|, |dth1|)
    g = np.array([0.0, 0.0, 3.1, -3.1])
    x = np.array([0.0, 0.0, -3.1, 3.1])
    gap = 2 * math.pi - 6.2
    assert weighted_distance(x, g, (1.0, 0.5, 0.5), (2, 3)) == pytest.approx(0.5 * gap + 0.5 * gap)
    assert weighted_distance(x, g, (1.0, 0.5, 0.5), (2,)) == pytest.approx(0.5 * gap + 0.5 * 6.2)
    assert weighted_distance(x, g, (1.0, 0.0, 0.0), (2, 3)) == 0.0


def test_robots_declare_their_metric():
    car, rc = Car(), Racecar()
    for robot in (car, rc):
        check_robot(robot)
        assert len(robot.distance_weights) == robot.state_dim - 1 and 2 in robot.angle_indices
    assert car.angle_indices == (2,) and car.distance_weights == (1.0, 0.5, 0.25, 0.0, 0.0)
    assert rc.angle_indices == (2, 4)
    named = {rc.state_names[i + 1]: w for i, w in enumerate(rc.distance_weights) if i and w}
    assert named == {"yaw": 0.5, "vx": 0.25, "vy": 0.25, "wz": 0.25}


def test_robot_without_a_metric_is_not_a_robot():
    class NoMetric(Car):
        distance_weights = (1.0, 0.5)

    with pytest.raises(TypeError, match="distance_weights must have state_dim - 1 = 5"):
        check_robot(NoMetric())


def test_disc_goal():
    g = DiscGoal([1.0, -2.0], 0.5)
    assert isinstance(g, GoalRegion) and g.kind == "disc"
    states = np.array([[1.3, -1.6, 3.0], [1.0, -1.4, 0.0], [1.5, -2.0, 0.0]])
    np.testing.assert_allclose(g.distance(states), [0.5, 0.6, 0.5])
    np.testing.assert_array_equal(g.reached(states), [True, False, True])
    assert g.position_radius == g.tolerance == 0.5
    with pytest.raises(ValueError, match="radius"):
        DiscGoal([0.0, 0.0], 0.0)
    with pytest.raises(ValueError, match="center"):
        DiscGoal([0.0, 0.0, 1.0], 0.5)


def test_state_goal():
    car = Car()
    g = StateGoal.for_robot(car, car.rest_state(1.0, 0.0, math.pi / 2), 0.3)
    assert isinstance(g, GoalRegion) and g.kind == "state"
    np.testing.assert_array_equal(g.position, [1.0, 0.0])
    x = car.rest_state(1.1, 0.0, math.pi / 2 + 0.2)  # 0.1 + 0.5 * 0.2 = 0.2
    y = car.rest_state(1.0, 0.0, -math.pi / 2)  # right place, opposite heading
    assert g.distance(x) == pytest.approx(0.2)
    np.testing.assert_array_equal(g.reached(np.stack([x, y])), [True, False])
    moving = x.copy()
    moving[3] = 1.0  # 0.25 more for 1 m/s
    assert not g.reached(moving)
    assert g.position_radius == pytest.approx(0.3)  # tolerance / position weight
    # the weights may be overridden (here: heading only matters 0.1 per rad)
    loose = StateGoal.for_robot(car, g.state, 0.3, weights=(2.0, 0.1, 0.0, 0.0, 0.0))
    assert not loose.reached(y)  # |dyaw| = pi: 0.314 > 0.3
    assert loose.distance(y) == pytest.approx(0.1 * math.pi)
    assert loose.position_radius == pytest.approx(0.15)
    with pytest.raises(ValueError, match="weights must have 5 entries"):
        StateGoal(g.state, 0.3, (1.0, 0.5))
    with pytest.raises(ValueError, match="tolerance"):
        StateGoal.for_robot(car, g.state, -1.0)
    with pytest.raises(ValueError, match="positive position weight"):
        StateGoal(g.state, 0.3, (0.0, 0.5, 0.0, 0.0, 0.0))


def test_json_round_trip():
    car = Car()
    for g in (DiscGoal([1.0, -2.0], 0.5), StateGoal.for_robot(car, [1.0, 2.0, -3.0, 0.5, 0.1, 0.0], 0.25)):
        d = json.loads(json.dumps(g.to_dict()))
        back = goal_from_dict(d)
        assert type(back) is type(g) and back.to_dict() == g.to_dict()
        states = np.random.default_rng(0).normal(size=(10, 6))
        np.testing.assert_array_equal(back.distance(states), g.distance(states))
    with pytest.raises(DitreeInputError, match="r.json: goal kind must be 'disc' or 'state', got 'box'"):
        goal_from_dict({"kind": "box"}, "r.json")
    with pytest.raises(DitreeInputError, match="state goal without 'tolerance'"):
        goal_from_dict({"kind": "state", "state": [0, 0, 0], "weights": [1, 1]})
