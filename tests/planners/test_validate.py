"""Validation: re-simulation plus a PyBullet footprint check at every step; tampering is caught."""

import numpy as np
import pytest

from envs.collision import AnalyticCollisionChecker
from envs.problem import validation_problem
from planners.results import PlanResult
from planners.rrt import KinodynamicRRT
from planners.validate import finalize, validate, validation_checker


@pytest.fixture(scope="module")
def small():
    return validation_problem("val_maze_small")


@pytest.fixture(scope="module")
def solved(small):
    res = KinodynamicRRT().solve(small, 60.0, seed=0)
    assert res.success
    return res


def copy(res: PlanResult, **kw) -> PlanResult:
    d = dict(res.__dict__)
    d.update(kw)
    return PlanResult(**d)


@pytest.mark.requires_data
def test_uses_pybullet(small):
    assert type(validation_checker(small)).__name__ == "PyBulletCollisionChecker"


@pytest.mark.requires_data
def test_accepts_a_real_path(small, solved):
    assert validate(small, solved) == (True, "")


@pytest.mark.requires_data
def test_rejects_a_changed_control(small, solved):
    u = solved.controls.copy()
    u[len(u) // 2, 0] = -u[len(u) // 2, 0] + 0.5
    ok, reason = validate(small, copy(solved, controls=u))
    assert not ok and "re-simulation" in reason


@pytest.mark.requires_data
def test_rejects_a_state_moved_into_a_wall(small, solved):
    s = solved.states.copy()
    k = len(s) // 2
    s[k, :2] = small.world.cell_to_xy(0, 0)  # a border wall cell
    ok, reason = validate(small, copy(solved, states=s))
    assert not ok and f"state {k}" in reason


@pytest.mark.requires_data
def test_rejects_a_consistent_path_through_a_wall(small):
    # full throttle straight ahead from the start (heading 180 deg in a 1 m corridor) for 2.5 s:
    # states and controls agree, but the car drives into the wall at the corridor's end
    u = np.tile([10.0, 0.0], (125, 1))
    s = small.robot.rollout(small.start[None], u[None])[0]
    assert AnalyticCollisionChecker(small.world, small.robot.footprint).collides(s).any()
    res = PlanResult(success=True, planner="test", seed=0, time_s=0.0, states=s, controls=u)
    ok, reason = validate(small, res)
    assert not ok and "collides" in reason and "PyBullet" in reason
    out = finalize(small, res)
    assert not out.success and not out.validated and out.reason.startswith("validation failed")


@pytest.mark.requires_data
def test_rejects_a_path_that_stops_short_of_the_goal(small, solved):
    n = len(solved.controls) // 2
    ok, reason = validate(small, copy(solved, states=solved.states[: n + 1], controls=solved.controls[:n]))
    assert not ok and "from the goal" in reason


@pytest.mark.requires_data
def test_finalize_marks_success_validated(small, solved):
    out = finalize(small, copy(solved))
    assert out.success and out.validated and out.reason == ""


def _trailer_problem(trailer, steps: int):
    """A room with one wall cell below the lane (x in [-0.5, 0.5], y < -0.5); the car drives straight
    along y = -0.3 clear of it while its trailer, swung 1 rad to the right, swings through it."""
    from envs.problem import Problem
    from envs.world import GridMap

    g = np.zeros((5, 9), dtype=np.uint8)
    g[0] = g[-1] = 1
    g[:, 0] = g[:, -1] = 1
    g[3, 4] = 1
    start = np.array([-0.7, -0.3, 0.0, 1.0])
    u = np.tile([0.5, 0.0], (steps, 1))
    s = trailer.rollout(start[None], u[None])[0]
    problem = Problem(trailer, GridMap(g, 1.0, "lane"), start, s[-1, :2], goal_radius=0.3)
    res = PlanResult(success=True, planner="test", seed=0, time_s=0.0, dt=trailer.dt, states=s, controls=u,
                     robot=trailer.name)
    return problem, res


def test_rejects_a_path_whose_trailer_clips_a_wall(trailer_car):
    problem, res = _trailer_problem(trailer_car, 30)
    body_poses = trailer_car.footprint_poses(res.states)
    car_hits = AnalyticCollisionChecker(problem.world, trailer_car.bodies[0]).collides(body_poses[:, 0])
    trailer_hits = AnalyticCollisionChecker(problem.world, trailer_car.bodies[1]).collides(body_poses[:, 1])
    assert not car_hits.any() and trailer_hits.any()  # only the trailer touches the wall
    first = int(np.flatnonzero(trailer_hits)[0])
    assert validation_checker(problem).bodies == trailer_car.bodies  # cached per map and bodies
    ok, reason = validate(problem, res)
    assert not ok and f"state {first} " in reason and "collides" in reason
    assert not finalize(problem, res).success
    # the same drive stopped before the trailer reaches the wall is a valid path
    short_problem, short = _trailer_problem(trailer_car, first - 1)
    assert validate(short_problem, short) == (True, "")


def test_between_state_sweep_finds_what_the_stored_states_miss():
    from envs.box_world import BoxWorld
    from envs.collision import colliding_steps, make_checker, robot_collides
    from envs.registry import make_robot

    robot = make_robot("unicycle1_v0")
    world = BoxWorld((-1.0, -1.0, 2.0, 1.0), np.array([[0.5, 0.0, 0.02, 0.4]]), np.zeros((0, 3)), name="thin")
    checker = make_checker(world, robot.bodies)
    states = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.5]])  # one long hop over a thin wall
    assert not robot_collides(robot, checker, states).any()  # the stored states are clear
    np.testing.assert_array_equal(colliding_steps(robot, checker, states, 4), [True, False])
    # a yaw hop across +-pi interpolates the short way round (no spurious sweep through the wall)
    turn = np.array([[-0.6, 0.0, np.pi - 0.05], [-0.6, 0.0, -np.pi + 0.05]])
    assert not colliding_steps(robot, checker, turn, 4).any()


def test_finalize_reports_the_between_state_sweep():
    from ditree.api import plan
    from envs.generators import generated_problem

    res = plan(generated_problem("maze", 1, 9, 9), planner="rrt", time_limit=30.0, seed=0)
    assert res.success and res.validated
    sweep = res.extra["between_states"]
    assert sweep["substeps"] == 4 and 0 <= sweep["colliding_steps"] <= len(res.controls)
