"""Planning to a goal state (envs.goal.StateGoal) and the validator's goal and angle checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker, checked_rollout
from envs.goal import StateGoal, goal_from_dict
from envs.problem import validation_problem
from planners.anytime import AnytimeRRT
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT
from planners.sst import SST
from planners.validate import _state_error, finalize, validate


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


def heading_goal(problem, yaw: float, tol: float):
    """``problem`` with its goal replaced by the car at rest at the goal position, heading ``yaw``."""
    return problem.with_goal(StateGoal.for_robot(problem.robot, problem.robot.rest_state(*problem.goal, yaw), tol))


@pytest.fixture(scope="module")
def disc_path(small):
    res = KinodynamicRRT().solve(small, 60.0, seed=0)
    assert res.success
    return res


def check_state_goal_path(problem, res):
    region = problem.goal_region
    assert res.success and res.validated, res.reason
    assert region.reached(res.states[-1]) and not region.reached(res.states[:-1]).any()  # ends at the first
    assert res.goal_distance == pytest.approx(float(region.distance(res.states[-1])))
    assert res.goal_distance <= region.tolerance and res.goal == region.to_dict()


@pytest.mark.parametrize("planner, yaw, tol, seed", [
    (KinodynamicRRT(), math.pi / 2, 0.5, 1),
    (SST(), 0.0, 1.0, 0),
    (AnytimeRRT(return_first=True), math.pi / 2, 0.5, 0),
])
def test_tree_planners_reach_a_goal_state(small, planner, yaw, tol, seed):
    problem = heading_goal(small, yaw, tol)
    res = finalize(problem, planner.solve(problem, 60.0, seed))
    check_state_goal_path(problem, res)
    # the heading counts: the same path is no solution for the opposite heading
    opposite = heading_goal(small, yaw + math.pi if yaw < 0 else yaw - math.pi, tol)
    ok, reason = validate(opposite, res)
    assert not ok and "from the goal state (tolerance" in reason and "car's metric" in reason


def test_disc_path_outside_a_goal_state_fails_validation(small, disc_path):
    end = disc_path.states[-1]
    assert validate(small, disc_path) == (True, "")
    # a goal state at the path's last position but facing the other way, at rest
    other = small.with_goal(StateGoal.for_robot(small.robot, small.robot.rest_state(*end[:2], end[2] - math.pi), 0.5))
    ok, reason = validate(other, disc_path)
    assert not ok and reason.startswith("path ends at distance")
    res = finalize(other, PlanResult(**{**disc_path.__dict__, "validated": False}))
    assert not res.success and res.reason.startswith("validation failed: path ends at distance")
    assert res.goal_distance == pytest.approx(0.5 * math.pi + 0.25 * end[3])


def test_validator_compares_yaw_modulo_two_pi(small, disc_path):
    s = disc_path.states.copy()
    s[1::2, 2] += np.where(s[1::2, 2] < 0, 2 * math.pi, -2 * math.pi)  # same headings, other representatives
    assert np.abs(s[:, 2] - disc_path.states[:, 2]).max() > 6.0
    ok, reason = validate(small, PlanResult(**{**disc_path.__dict__, "states": s}))
    assert ok, reason
    s[5, 2] += 0.01
    ok, reason = validate(small, PlanResult(**{**disc_path.__dict__, "states": s}))
    assert not ok and "state 5 differs from the re-simulation" in reason


def test_state_error_wraps_every_angle_component():
    a = np.zeros((2, 6))
    b = a.copy()
    b[:, 2] = 2 * math.pi  # yaw one turn apart
    b[:, 4] = -2 * math.pi  # a second angle component one turn apart
    np.testing.assert_allclose(_state_error(a, b, (2, 4)), 0.0, atol=1e-12)
    np.testing.assert_allclose(_state_error(a, b, (2,)), 2 * math.pi)  # index 4 is not an angle here


def test_result_json_records_the_goal(small, tmp_path):
    problem = heading_goal(small, math.pi / 2, 0.5)
    res = finalize(problem, KinodynamicRRT().solve(problem, 60.0, seed=1))
    path = tmp_path / "r.json"
    res.to_json(path)
    d = json.loads(path.read_text())
    assert d["goal"]["kind"] == "state" and d["goal"]["tolerance"] == 0.5 and len(d["goal"]["state"]) == 6
    assert d["goal_distance"] == pytest.approx(res.goal_distance)
    back = PlanResult.from_json(path)
    assert back.goal == res.goal and back.goal_distance == res.goal_distance
    assert goal_from_dict(back.goal).reached(back.states[-1])
    # results written before goal regions existed still load
    for key in ("goal", "goal_distance"):
        del d[key]
    old = PlanResult.from_dict(d)
    assert old.goal is None and old.goal_distance is None and old.success
    # a disc goal records metres from the centre
    disc = finalize(small, KinodynamicRRT().solve(small, 60.0, seed=1))
    assert disc.goal == {"kind": "disc", "center": small.goal.tolist(), "radius": 0.5}
    assert disc.goal_distance == pytest.approx(float(np.linalg.norm(disc.states[-1, :2] - small.goal)))


def test_checked_rollout_takes_a_goal_region(small):
    problem = heading_goal(small, math.pi / 2, 0.5)
    checker = AnalyticCollisionChecker(problem.world, problem.robot.footprint)
    res = finalize(problem, KinodynamicRRT().solve(problem, 60.0, seed=1))
    assert res.success
    # the path's own controls enter the region at the path's last step, not before
    chk = checked_rollout(problem.robot, checker, problem.start[None], res.controls[None], problem.goal_region)
    assert chk.first_goal.tolist() == [len(res.controls)]
    # the disc form gives what it always gave
    d = checked_rollout(problem.robot, checker, small.start[None], res.controls[None], small.goal, small.goal_radius)
    g = checked_rollout(problem.robot, checker, small.start[None], res.controls[None], small.goal_region)
    assert d.first_goal.tolist() == g.first_goal.tolist()
