"""Trajectory optimisation (planners/trajopt.py): the casadi dynamics agree with the robots' own,
obstacles read from a grid map and a box world, a path that search ended near a goal state is
connected to it exactly and validates with PyBullet, an impossible connection fails without a
path, and polish shortens a path keeping its end. Real RRT paths, real IPOPT, real checkers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from envs.car import Car
from envs.collision import make_checker, robot_collides
from envs.goal import StateGoal, state_distance
from envs.problem import Problem
from envs.registry import make_robot
from envs.world import GridMap
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT
from planners.trajopt import TrajOptParams, connect_to_goal, polish, world_obstacles
from planners.validate import validate

HOOK = np.ones((10, 10), dtype=np.uint8)
HOOK[1:9, 1:9] = 0
HOOK[1:6, 5] = 1  # a wall hanging from the top: the way round is below it
WORLD = GridMap(HOOK, 0.5, "hook")

GOAL_YAW = {"unicycle1_v0": -math.pi / 2, "car1_v0": math.pi / 2}
"""Goal headings the RRT reaches quickly on the hook map (the car comes round the wall heading up)."""


def hook_problem(name: str, tolerance: float = 0.3) -> Problem:
    robot = make_robot(name)
    base = Problem.from_cells(WORLD, (3, 2), 90.0, (3, 7), robot=robot, goal_radius=0.25, name="hook")
    goal = robot.rest_state(*base.goal, GOAL_YAW[name])
    return base.with_goal(StateGoal.for_robot(robot, goal, tolerance))


@pytest.fixture(scope="module", params=["unicycle1_v0", "car1_v0"])
def searched(request):
    """A hook problem with a loose goal state (0.3 in the robot's metric) and an RRT path to it."""
    problem = hook_problem(request.param)
    res = KinodynamicRRT().solve(problem, 30.0, seed=1)
    assert res.success and problem.goal_region.reached(res.states[-1])
    return problem, res


def sub_states(robot, states: np.ndarray, n: int = 9) -> np.ndarray:
    """``n`` states interpolated strictly between consecutive ones (angles the short way round)."""
    d = np.diff(states, axis=0)
    idx = list(robot.angle_indices)
    d[:, idx] = (d[:, idx] + math.pi) % (2 * math.pi) - math.pi
    f = np.arange(1, n + 1) / (n + 1)
    return (states[:-1, None] + f[None, :, None] * d[:, None]).reshape(-1, states.shape[1])


def assert_valid(problem: Problem, states: np.ndarray, controls: np.ndarray, tolerance: float) -> None:
    """The path validates (PyBullet, re-simulation, bounds) against the goal state within ``tolerance``,
    and no body touches a wall between its states either."""
    robot = problem.robot
    tight = problem.with_goal(StateGoal.for_robot(robot, problem.goal_region.state, tolerance))
    res = PlanResult(True, "trajopt", 0, 0.0, dt=robot.dt, states=states, controls=controls, robot=robot.name)
    ok, reason = validate(tight, res)
    assert ok, reason
    checker = make_checker(problem.world, robot.bodies)
    assert not robot_collides(robot, checker, sub_states(robot, states)).any()


@pytest.mark.parametrize("name", ["unicycle1_v0", "car1_v0"])
def test_casadi_dynamics_and_body_poses_agree_with_the_robot(name):
    import casadi as ca

    robot = make_robot(name)
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(-2, 2, (20, 2)), rng.uniform(-3, 3, (20, robot.state_dim - 2))])
    u = robot.sample_controls(rng, (20,))
    xs, us = ca.SX.sym("x", robot.state_dim), ca.SX.sym("u", robot.control_dim)
    step = ca.Function("f", [xs, us], [robot.casadi_step(xs, us)])
    poses = ca.Function("p", [xs], [ca.vertcat(*[ca.vertcat(*p) for p in robot.casadi_footprint_poses(xs)])])
    for i in range(20):
        nxt = np.asarray(step(x[i], u[i])).ravel()
        ref = robot.step(x[i], u[i])
        diff = nxt - ref
        idx = list(robot.angle_indices)
        diff[idx] = (diff[idx] + math.pi) % (2 * math.pi) - math.pi  # casadi_step does not wrap
        np.testing.assert_allclose(diff, 0.0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(poses(x[i])).ravel(), robot.footprint_poses(x[i]).ravel(), atol=1e-12)


def test_world_obstacles_of_a_grid_map_are_its_walls():
    boxes, circles, bounds = world_obstacles(WORLD)
    assert circles.shape == (0, 3)
    assert bounds == (-2.5, -2.5, 2.5, 2.5)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3.2, 3.2, (20000, 2))
    inside = (np.abs(pts[:, None] - boxes[None, :, :2]) < 0.5 * boxes[None, :, 2:]).all(-1).any(-1)
    on_edge = (np.abs(np.abs(pts[:, None] - boxes[None, :, :2]) - 0.5 * boxes[None, :, 2:]) < 1e-9).any()
    assert not on_edge
    np.testing.assert_array_equal(inside, ~WORLD.is_free_point(pts))


def test_world_obstacles_of_a_box_world_and_bad_worlds():
    world = SimpleNamespace(boxes=[[1.0, 2.0, 0.2, 1.4]], circles=[[3.0, 3.0, 0.5]], bounds=(0.0, 0.0, 5.0, 6.0))
    boxes, circles, bounds = world_obstacles(world)
    np.testing.assert_array_equal(boxes, [[1.0, 2.0, 0.2, 1.4]])
    np.testing.assert_array_equal(circles, [[3.0, 3.0, 0.5]])
    assert bounds == (0.0, 0.0, 5.0, 6.0)
    with pytest.raises(ValueError, match="x_min, y_min, x_max, y_max"):
        world_obstacles(SimpleNamespace(boxes=np.zeros((0, 4)), bounds=(0.0, 5.0, 0.0, 6.0)))
    with pytest.raises(TypeError, match="cannot read obstacles"):
        world_obstacles(object())


def test_params_are_checked():
    with pytest.raises(ValueError, match="substeps"):
        TrajOptParams(substeps=3)
    with pytest.raises(ValueError, match="goal_tolerance"):
        TrajOptParams(goal_tolerance=0.0)


def test_connect_reaches_the_exact_goal_state_and_validates(searched):
    problem, path = searched
    robot = problem.robot
    res = connect_to_goal(problem, path.states, path.controls)
    assert res.success, res.reason
    assert res.status == "Solve_Succeeded" and res.iterations > 0 and res.time_s > 0
    assert res.goal_distance < 0.01 and res.steps == len(path.controls)  # same horizon
    assert res.goal_distance == pytest.approx(float(state_distance(robot, res.states[-1], problem.goal_region.state)))
    # the result is our model's re-simulation from the start, with the controls within bounds
    np.testing.assert_array_equal(res.states, robot.rollout(problem.start[None], res.controls[None])[0])
    assert np.all(res.controls >= robot.control_low) and np.all(res.controls <= robot.control_high)
    assert_valid(problem, res.states, res.controls, 0.01)
    # only the last window changed; the same call gives the same path
    k = res.extra["window_start"]
    assert 0 <= k <= len(path.controls) - TrajOptParams().window_steps
    np.testing.assert_array_equal(res.controls[:k], path.controls[:k])
    again = connect_to_goal(problem, path.states, path.controls)
    np.testing.assert_array_equal(again.controls, res.controls)


def test_connect_fails_cleanly_when_the_goal_is_out_of_reach():
    problem = hook_problem("unicycle1_v0")
    robot = problem.robot
    controls = np.tile([[0.5, 0.0]], (10, 1))  # 0.5 m straight up: the goal is ~3 m away behind the wall
    states = robot.rollout(problem.start[None], controls[None])[0]
    res = connect_to_goal(problem, states, controls, TrajOptParams(time_budget_s=0.5))
    assert not res.success and "retried" in res.reason and res.solves == 2  # the first try, then the longer one
    assert res.states.shape == (0, 3) and res.controls.shape == (0, 2)  # never a (colliding) path


def test_connect_needs_a_state_goal_and_casadi_dynamics():
    problem = hook_problem("unicycle1_v0")
    controls = np.zeros((3, 2))
    states = problem.robot.rollout(problem.start[None], controls[None])[0]
    res = connect_to_goal(Problem(problem.robot, WORLD, problem.start, problem.goal, 0.3), states, controls)  # a disc
    assert not res.success and "StateGoal" in res.reason
    car = Car()
    car_problem = Problem.from_cells(WORLD.with_cell_size(1.0), (3, 2), 90.0, (3, 7), robot=car)
    goal = car.rest_state(*car_problem.goal, 0.0)
    car_problem = car_problem.with_goal(StateGoal.for_robot(car, goal, 0.3))
    u = np.zeros((3, 2))
    res = connect_to_goal(car_problem, car.rollout(car_problem.start[None], u[None])[0], u)
    assert not res.success and "casadi_step" in res.reason


def test_polish_shortens_a_wiggly_path_and_keeps_the_goal():
    problem = hook_problem("unicycle1_v0")
    path = KinodynamicRRT().solve(problem, 30.0, seed=1)
    connected = connect_to_goal(problem, path.states, path.controls)
    assert connected.success, connected.reason
    res = polish(problem, connected.states, connected.controls, TrajOptParams(polish_max_solves=4))
    assert res.success, res.reason
    assert res.steps < connected.steps
    assert res.goal_distance <= 0.01  # within the goal tolerance, however the end moved
    assert_valid(problem, res.states, res.controls, 0.01)
    # the connector with the final time free: connected and shortened in one call
    free = connect_to_goal(problem, path.states, path.controls, TrajOptParams(free_final_time=True, polish_max_solves=2))
    assert free.success and free.steps < connected.steps and free.goal_distance < 0.01, free.reason
    assert_valid(problem, free.states, free.controls, 0.01)


def test_clearance_is_the_signed_distance_to_boxes_and_circles():
    import casadi as ca

    from planners.trajopt import clearance

    rng = np.random.default_rng(0)
    pts = rng.uniform(-2, 2, (400, 2))
    box = np.array([0.3, -0.2, 0.6, 0.25, 0.0])  # centre, half sizes, no extra radius
    circle = np.array([-0.5, 0.4, 0.0, 0.0, 0.7])
    # brute force: distance to a dense sampling of each outline, negative inside
    t = np.linspace(0, 1, 4001)
    hx, hy = box[2:4]
    outline = np.concatenate([np.column_stack([box[0] - hx + 2 * hx * t, np.full_like(t, box[1] + s * hy)])
                              for s in (-1, 1)] + [np.column_stack([np.full_like(t, box[0] + s * hx),
                                                                    box[1] - hy + 2 * hy * t]) for s in (-1, 1)])
    inside = (np.abs(pts - box[:2]) < box[2:4]).all(1)
    brute = np.linalg.norm(pts[:, None] - outline[None], axis=-1).min(1) * np.where(inside, -1, 1)
    got = np.asarray(clearance(ca.DM(pts.T), ca.DM(np.tile(box, (400, 1)).T))).ravel()
    np.testing.assert_allclose(got, brute, atol=1e-3)
    got = np.asarray(clearance(ca.DM(pts.T), ca.DM(np.tile(circle, (400, 1)).T))).ravel()
    np.testing.assert_allclose(got, np.linalg.norm(pts - circle[:2], axis=1) - 0.7, atol=1e-5)


def test_programme_cache_is_bounded_by_horizon_steps_and_least_recently_used(monkeypatch):
    from planners import trajopt
    from planners.trajopt import TrajOptParams, _programme

    monkeypatch.setattr(trajopt, "_PROGRAMMES", {})
    monkeypatch.setattr(trajopt, "_CACHE_STEPS", 25)
    robot, p = make_robot("unicycle1_v0"), TrajOptParams()
    a = _programme(robot, 10, p)
    b = _programme(robot, 8, p)
    assert _programme(robot, 10, p) is a  # a hit: now the most recently used
    c = _programme(robot, 12, p)  # 10 + 8 + 12 > 25: the least recently used (8 steps) goes
    assert [prog.T for prog in trajopt._PROGRAMMES.values()] == [10, 12]
    assert _programme(robot, 12, p) is c and _programme(robot, 8, p) is not b
    assert sum(prog.T for prog in trajopt._PROGRAMMES.values()) <= 25
