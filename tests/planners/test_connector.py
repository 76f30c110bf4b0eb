"""The goal connector: search a full-state goal to a loose region, connect each hit exactly by
trajectory optimisation, search on when a connection fails (planners/connector.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ditree.api import plan
from envs.box_world import BoxWorld
from envs.goal import DiscGoal, StateGoal
from envs.problem import Problem
from envs.registry import make_robot
from planners.connector import GoalConnector


def _problem(robot_name: str = "unicycle1_v0", tol: float = 0.03) -> Problem:
    """A 4 x 3 m box world with a wall to drive round; the goal state faces +y behind it."""
    world = BoxWorld(bounds=(0.0, 0.0, 4.0, 3.0), boxes=np.array([[2.0, 1.0, 0.2, 2.0]]), circles=np.zeros((0, 3)),
                     name="wall")
    robot = make_robot(robot_name)
    start = robot.rest_state(0.8, 1.0, np.pi / 2)
    goal = robot.rest_state(3.2, 1.0, -np.pi / 2)
    return Problem(robot, world, start, StateGoal.for_robot(robot, goal, tol), name="wall")


def test_connector_only_for_state_goals_tighter_than_the_search_region():
    p = _problem()
    assert GoalConnector.for_problem(p, 0.0) is None
    assert GoalConnector.for_problem(p, 0.02) is None  # the goal is already that loose
    con = GoalConnector.for_problem(p, 0.3)
    assert con is not None and con.search_problem.goal_region.tolerance == 0.3
    np.testing.assert_array_equal(con.search_problem.goal_region.state, p.goal_region.state)
    disc = p.with_goal(DiscGoal(p.goal, 0.2))
    assert GoalConnector.for_problem(disc, 0.3) is None


@pytest.mark.parametrize("planner", ["rrt", "sst"])
@pytest.mark.parametrize("robot", ["unicycle1_v0", "car1_v0"])
def test_search_then_connect_reaches_the_exact_goal(planner, robot):
    p = _problem(robot)
    res = plan(p, planner=planner, time_limit=60.0, seed=0, connect_tol=0.3)
    assert res.success and res.validated, res.reason
    assert res.goal_distance <= 0.03 / 3 + 1e-9  # the connector aims at a third of the tolerance
    assert res.counters["connected"] >= 1 and res.counters["connect_attempts"] >= res.counters["connected"]
    assert res.profile["trajopt"] > 0
    again = plan(p, planner=planner, time_limit=60.0, seed=0, connect_tol=0.3)
    np.testing.assert_array_equal(again.controls, res.controls)  # deterministic for a seed


def test_a_failed_connection_is_not_retried_and_the_search_goes_on(monkeypatch):
    from planners import trajopt

    real = trajopt.connect_to_goal
    calls = []

    def flaky(problem, states, controls, params=None):
        calls.append(len(controls))
        if len(calls) == 1:  # the first hit cannot be connected
            return trajopt._fail("made to fail", problem.robot, 0.0)
        return real(problem, states, controls, params)

    monkeypatch.setattr(trajopt, "connect_to_goal", flaky)
    res = plan(_problem(), planner="rrt", time_limit=60.0, seed=1, connect_tol=0.3)
    assert res.success and res.validated, res.reason
    assert len(calls) >= 2 and res.counters["connect_attempts"] == len(calls)
    assert res.counters["connected"] == len(calls) - 1


def test_anytime_sst_polishes_and_improves_its_connected_paths():
    p = _problem()
    res = plan(p, planner="sst", time_limit=8.0, seed=0, connect_tol=0.3, return_first=False, polish=True)
    assert res.success and res.validated, res.reason
    hist = np.asarray(res.extra["cost_history"])
    assert len(hist) >= 1 and np.all(np.diff(hist[:, 1]) < 0)  # every entry an improvement
    assert res.path_duration_s == pytest.approx(hist[-1, 1])
    assert res.goal_distance <= 0.03
