"""OMPL's RRT, KPIECE1 and EST behind the Planner protocol (planners/ompl_baselines.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker, checked_rollout
from envs.problem import Problem, validation_problem
from envs.world import GridMap
from planners.base import Planner
from planners.ompl_baselines import OmplControlPlanner, OmplPlannerSettings

# seeds chosen so that each planner solves val_maze_small in a few seconds on 2 cores
SEEDS = {"rrt": 2, "kpiece": 2, "est": 0}


@pytest.fixture(scope="module")
def problem():
    return validation_problem("val_maze_small")


@pytest.fixture(scope="module")
def results(problem):
    return {alg: OmplControlPlanner(alg).solve(problem, 60.0, seed) for alg, seed in SEEDS.items()}


def test_protocol_and_names():
    planners = [OmplControlPlanner(a) for a in ("rrt", "kpiece", "est")]
    assert [p.name for p in planners] == ["ompl-rrt", "ompl-kpiece", "ompl-est"]
    assert all(isinstance(p, Planner) for p in planners)
    with pytest.raises(ValueError, match="unknown OMPL algorithm 'sst'"):
        OmplControlPlanner("sst")
    with pytest.raises(ValueError, match="collision_backend"):
        OmplPlannerSettings(collision_backend="fcl")
    # keyword overrides (as the planner registry passes them) reach both settings levels
    p = OmplControlPlanner("kpiece", propagation_step=0.02, max_control_steps=50, count_nodes=True)
    assert p.settings.count_nodes and p.settings.setup.propagation_step == 0.02 and p.settings.setup.max_control_steps == 50
    with pytest.raises(ValueError, match="unknown OMPL planner parameter"):
        OmplControlPlanner("rrt", batch_size=64)


@pytest.mark.requires_data
@pytest.mark.parametrize("algorithm", sorted(SEEDS))
def test_solves_val_maze_small_with_a_valid_path(problem, results, algorithm):
    r = results[algorithm]
    assert r.success, r.reason
    assert r.planner == f"ompl-{algorithm}" and r.seed == SEEDS[algorithm]
    assert r.time_s < 60.0
    assert r.profile["total"] == pytest.approx(r.time_s)
    assert r.counters["propagations"] > 0
    T = len(r.controls)
    assert T > 0 and r.states.shape == (T + 1, 6)
    # controls stay within the car's bounds and come in runs lasting whole propagation steps (5 x 0.02 s),
    # except the last run, cut at the first state inside the goal disc
    assert np.all(r.controls >= problem.robot.control_low) and np.all(r.controls <= problem.robot.control_high)
    change = np.nonzero(np.any(np.diff(r.controls, axis=0) != 0, axis=1))[0] + 1
    assert np.all(np.diff(np.concatenate([[0], change])) % 5 == 0)
    # re-simulated from the start, the controls reproduce the states and reach the goal collision-free
    check = checked_rollout(
        problem.robot,
        AnalyticCollisionChecker(problem.world),
        problem.start[None],
        r.controls[None],
        problem.goal,
        problem.goal_radius,
    )
    np.testing.assert_allclose(check.states[0], r.states, atol=1e-9)
    assert check.first_collision[0] == -1
    assert check.first_goal[0] == T  # the path ends at its first state inside the goal disc
    assert np.linalg.norm(r.states[-1, :2] - problem.goal) <= problem.goal_radius


@pytest.mark.requires_data
def test_same_seed_same_path_kpiece(problem, results):
    again = OmplControlPlanner("kpiece").solve(problem, 60.0, SEEDS["kpiece"])
    first = results["kpiece"]
    assert again.success
    np.testing.assert_array_equal(again.controls, first.controls)
    np.testing.assert_array_equal(again.states, first.states)
    assert again.counters == first.counters
    other = OmplControlPlanner("kpiece").solve(problem, 60.0, SEEDS["kpiece"] + 1)
    assert other.success
    assert other.controls.shape != first.controls.shape or not np.array_equal(other.controls, first.controls)


@pytest.mark.requires_data
def test_count_nodes_reads_the_tree(problem):
    r = OmplControlPlanner("kpiece", OmplPlannerSettings(count_nodes=True)).solve(problem, 60.0, SEEDS["kpiece"])
    assert r.success and r.nodes > 1


def _walled_in_goal() -> Problem:
    grid = np.array(
        [
            [1, 1, 1, 1, 1, 1, 1],
            [1, 0, 0, 0, 1, 1, 1],
            [1, 0, 0, 0, 1, 0, 1],
            [1, 0, 0, 0, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1],
        ],
        dtype=np.uint8,
    )
    return Problem.from_cells(GridMap(grid, 1.0, "walled_goal"), (2, 2), 0.0, (2, 5), name="walled_goal")


@pytest.mark.parametrize("algorithm", ["rrt", "kpiece"])
def test_unsolvable_problem_fails_within_the_time_limit(algorithm):
    problem = _walled_in_goal()
    t0 = time.perf_counter()
    r = OmplControlPlanner(algorithm).solve(problem, 1.0, seed=0)
    wall = time.perf_counter() - t0
    assert not r.success
    assert wall < 1.5 and r.time_s < 1.5
    assert "no exact solution" in r.reason
    assert len(r.states) == 0 and len(r.controls) == 0
    assert r.extra["ompl_status"] in ("TIMEOUT", "APPROXIMATE_SOLUTION")


@pytest.mark.requires_data
def test_bad_arguments_are_rejected(problem):
    with pytest.raises(ValueError, match="time_limit"):
        OmplControlPlanner("rrt").solve(problem, 0.0, 0)
    with pytest.raises(ValueError, match="seed"):
        OmplControlPlanner("rrt").solve(problem, 1.0, -1)


def test_ompl_kpiece_reaches_a_goal_state(problem):
    import math

    from envs.goal import StateGoal
    from planners.validate import finalize

    goal = StateGoal.for_robot(problem.robot, problem.robot.rest_state(*problem.goal, 0.0), 1.0)
    sp = problem.with_goal(goal)
    r = finalize(sp, OmplControlPlanner("kpiece").solve(sp, 60.0, 0))
    assert r.success and r.validated, r.reason
    # OMPL stops a motion in the region; the path is cut at its first 0.02 s state there
    assert goal.reached(r.states[-1]) and not goal.reached(r.states[:-1]).any()
    assert r.goal_distance <= 1.0 and r.goal["kind"] == "state"
    assert abs(math.remainder(r.states[-1, 2], 2 * math.pi)) <= 2.0  # within tolerance / yaw weight
