"""OMPL's control planners on the PyBullet racecar (the generic envs.ompl_setup through
planners.ompl_baselines): real OMPL, real physics. Paths re-simulate collision-free to the goal, the
propagator stops motions at the first colliding control period, and seeds reproduce paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ompl import util as ou

from envs.ompl_setup import OmplSettings, make_setup, quiet_ompl
from envs.problem import Problem
from envs.racecar import Racecar
from envs.world import GridMap
from planners.ompl_baselines import OmplControlPlanner
from planners.validate import finalize, validate

# a small open room: 3 x 3 free cells of 2 m inside a wall ring
GRID = np.array([[1] * 5, [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1] * 5])


@pytest.fixture(scope="module")
def problem() -> Problem:
    world = GridMap(GRID, cell_size=2.0, name="room")
    return Problem.from_cells(world, (2, 1), 0.0, (1, 3), robot=Racecar(), name="room")


@pytest.fixture(scope="module")
def solved(problem):
    return {alg: finalize(problem, OmplControlPlanner(alg).solve(problem, time_limit=30.0, seed=0))
            for alg in ("kpiece", "rrt")}


@pytest.mark.parametrize("alg", ["kpiece", "rrt"])
def test_path_resimulates_collision_free_to_goal(problem, solved, alg):
    res = solved[alg]
    assert res.success and res.validated, res.reason
    assert res.planner == f"ompl-{alg}" and res.robot == "racecar"
    assert res.states.shape == (len(res.controls) + 1, 24) and res.controls.shape[1] == 2
    # independent re-check: PyBullet re-simulation from the start, footprint at every period
    ok, reason = validate(problem, res)
    assert ok, reason
    again = problem.robot.rollout(problem.start[None], res.controls[None])[0]
    np.testing.assert_array_equal(again, res.states)
    assert np.linalg.norm(res.states[-1, :2] - problem.goal) <= problem.goal_radius
    assert np.all(res.controls >= problem.robot.control_low) and np.all(res.controls <= problem.robot.control_high)
    assert res.counters["propagations"] > 0


def test_same_seed_same_path(problem, solved):
    again = finalize(problem, OmplControlPlanner("kpiece").solve(problem, time_limit=30.0, seed=0))
    np.testing.assert_array_equal(again.controls, solved["kpiece"].controls)


def test_propagator_stops_at_the_first_colliding_period(problem):
    with quiet_ompl():
        ou.RNG.setSeed(1)
    cs = make_setup(problem)
    start = cs.to_state(problem.start)
    u = cs.si.allocControl()
    u[0], u[1] = 60.0, 0.0  # full speed straight at the east wall, 5 m ahead
    out = cs.si.allocState()
    cs._keep += [u, out]
    cs.si.setPropagationStepSize(6.0)  # one propagator call of 6 s (300 control periods)
    cs.si.propagate(start, u, 1, out)
    x = cs.to_array(out)
    full = problem.robot.rollout(problem.start[None], np.tile([[60.0, 0.0]], (1, 300, 1)))[0, 1:]
    hits = cs.checker.collides(full[:, :3])
    assert hits.any()  # the wall is reached within 6 s
    first = int(np.argmax(hits))
    np.testing.assert_array_equal(x, full[first])  # the first colliding state, not the end state
    assert not cs.si.isValid(out)
    # a short free motion ends where the physics says, and is valid
    cs.si.setPropagationStepSize(0.2)
    cs.si.propagate(start, u, 1, out)
    np.testing.assert_array_equal(cs.to_array(out), full[9])
    assert cs.si.isValid(out)


def test_state_conversion_round_trips(problem):
    with quiet_ompl():
        ou.RNG.setSeed(1)
    cs = make_setup(problem)
    x = problem.robot.rollout(problem.start[None], np.tile([[40.0, 0.3]], (1, 20, 1)))[0, -1]
    np.testing.assert_array_equal(cs.to_array(cs.to_state(x)), x)
    with pytest.raises(ValueError, match="24"):
        cs.to_state(np.zeros(6))


def test_goal_region_samples_in_the_disc(problem):
    with quiet_ompl():
        ou.RNG.setSeed(3)
    cs = make_setup(problem)
    s = cs.si.allocState()
    cs._keep.append(s)
    for _ in range(20):
        cs.goal.sampleGoal(s)
        x = cs.to_array(s)
        assert math.hypot(*(x[:2] - problem.goal)) <= problem.goal_radius + 1e-12
        assert cs.goal.isSatisfied(s) and cs.si.satisfiesBounds(s)


def test_bad_settings_and_robot():
    with pytest.raises(ValueError, match="propagation_step"):
        OmplSettings(propagation_step=0.0)
    with pytest.raises(ValueError, match="max_control_steps"):
        OmplSettings(min_control_steps=3, max_control_steps=2)
    world = GridMap(GRID, cell_size=2.0, name="room")
    rc_problem = Problem.from_cells(world, (2, 1), 0.0, (1, 3), robot=Racecar(), name="room")
    with pytest.raises(ValueError, match="whole multiple"):
        make_setup(rc_problem, OmplSettings(propagation_step=0.03))


def test_goal_region_of_a_racecar_goal_state(problem):
    from envs.goal import StateGoal

    robot = problem.robot
    goal = StateGoal.for_robot(robot, robot.rest_state(*problem.goal, -math.pi + 0.1), 0.5)
    sp = problem.with_goal(goal)  # a 24-D goal state passes the problem's checks
    with quiet_ompl():
        ou.RNG.setSeed(3)
    cs = make_setup(sp)
    s = cs.si.allocState()
    cs._keep.append(s)
    cs.goal.sampleGoal(s)  # the goal state itself
    np.testing.assert_allclose(cs.to_array(s), goal.state, atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(10):  # yaw across the wrap; speeds and yaw rate weighted, roll (near +-pi) ignored
        x = goal.state + rng.normal(0.0, 0.2, 24)
        x[2] = math.pi - rng.uniform(0.0, 0.2)
        x[4] = rng.choice([-1.0, 1.0]) * (math.pi - 0.01)
        assert cs.goal.distanceGoal(cs.to_state(x)) == pytest.approx(float(goal.distance(x)), abs=1e-12)
    x = goal.state.copy()
    x[2] += 2 * math.pi - 0.1  # the same heading, 0.1 rad off, written the other way round
    assert goal.distance(x) == pytest.approx(0.05)
    x[3] += 1.0  # z is not part of the racecar's metric
    assert goal.distance(x) == pytest.approx(0.05)
