"""dynobench's first-order unicycles (envs/unicycle.py), second-order unicycle (envs/unicycle2.py) and
car with a trailer (envs/car_trailer.py): dynamics against the benchmark's reference solutions, model
parameters against its model files, state bounds, the casadi step, the trailer's second body, the
policy's view, and the classical planners solving a small grid map with each, validated with PyBullet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ditree.api import plan
from envs.car_trailer import CarTrailer, CarTrailerParams
from envs.problem import Problem
from envs.registry import make_robot, robot_spec
from envs.suites import has_suite, suite_dir
from envs.unicycle import VARIANTS, Unicycle, UnicycleParams
from envs.unicycle2 import Unicycle2, Unicycle2Params
from envs.world import GridMap

DYNOBENCH = ("unicycle1_v0", "unicycle1_v1", "unicycle1_v2", "unicycle2_v0", "car1_v0")


def _reference_solutions():
    if not has_suite("dynobench"):
        return []
    root = suite_dir("dynobench") / "envs"
    return sorted(p for name in DYNOBENCH for p in (root / name).glob("*/idbastar_v0_solution_v0.yaml"))


@pytest.mark.requires_data("dynobench")
def test_one_step_from_every_reference_state_lands_on_the_next():
    import yaml

    files = _reference_solutions()
    assert len(files) == 11  # 3 + 1 + 1 first-order, 3 second-order unicycle, 3 car-with-trailer instances
    for f in files:
        robot = make_robot(f.parts[-3])
        sol = yaml.safe_load(f.read_text())
        x, u = np.asarray(sol["states"], dtype=float), np.asarray(sol["actions"], dtype=float)
        nxt = robot.rollout(x[:-1], u[:, None, :])[:, 1]
        err = np.abs(nxt - x[1:])
        for i in robot.angle_indices:  # the files store wrapped angles, as our model does
            err[:, i] = np.abs((nxt[:, i] - x[1:, i] + math.pi) % (2 * math.pi) - math.pi)
        assert err.max() < 2e-5, (f, err.max())
        # the open-loop rollout of the whole solution ends near the goal, in the robot's own metric
        ends = robot.rollout(x[:1], u[None])[0, -1]
        w = robot.distance_weights
        d = w[0] * np.hypot(*(ends[:2] - x[-1, :2])) + sum(
            wi * abs((ends[i] - x[-1, i] + math.pi) % (2 * math.pi) - math.pi) for i, wi in enumerate(w[1:], start=2))
        assert d < 0.03, (f, d)


@pytest.mark.parametrize("name", DYNOBENCH)
def test_numpy_torch_and_scalar_steps_agree_and_respect_bounds(name):
    robot = make_robot(name)
    rng = np.random.default_rng(0)
    x0 = np.stack([robot.rest_state(*rng.uniform(-2, 2, 2), rng.uniform(-math.pi, math.pi)) for _ in range(8)])
    u = robot.sample_controls(rng, (8, 30))
    xs = robot.rollout(x0, u)
    xt = robot.rollout(torch.as_tensor(x0), torch.as_tensor(u)).numpy()
    np.testing.assert_allclose(xt, xs, atol=1e-12)
    x = list(x0[0])
    for t in range(30):
        x = robot.step_scalar(x, list(u[0, t]))
    np.testing.assert_allclose(x, xs[0, -1], atol=1e-12)
    for i in robot.angle_indices:
        assert np.all((xs[..., i] >= -math.pi) & (xs[..., i] < math.pi))
    low, high = getattr(robot, "state_low", None), getattr(robot, "state_high", None)
    if low is not None:  # state bounds hold on every state
        assert np.all((xs >= low) & (xs <= high))
    # controls outside the bounds are clipped, never integrated as given
    far = np.tile(robot.control_high * 10, (1, 5, 1))
    np.testing.assert_allclose(robot.rollout(x0[:1], far), robot.rollout(x0[:1], np.tile(robot.control_high, (1, 5, 1))))


def test_variants_differ_only_in_control_bounds():
    v0, v1, v2 = (make_robot(n) for n in ("unicycle1_v0", "unicycle1_v1", "unicycle1_v2"))
    assert (v0.control_low.tolist(), v1.control_low.tolist(), v2.control_low.tolist()) == (
        [-0.5, -0.5], [0.25, -0.5], [0.25, -0.25])
    assert v0.has_mirror and v1.has_mirror and not v2.has_mirror
    assert v2.params == VARIANTS["unicycle1_v2"] and v2.name == "unicycle1_v2"
    # parameters recorded in a checkpoint rebuild the same variant
    again = make_robot("unicycle1_v2", v2.params.to_dict())
    assert isinstance(again, Unicycle) and again.params == v2.params and again.name == "unicycle1_v2"
    assert v0.policy_features(np.zeros((4, 3))).shape == (4, 0)


def test_trailer_is_a_second_body_behind_the_hitch():
    robot = CarTrailer()
    assert [(b.length, b.width) for b in robot.bodies] == [(0.5, 0.25), (0.3, 0.25)]
    x = np.array([[1.0, 2.0, 0.3, -0.4]])
    poses = robot.footprint_poses(x)
    assert poses.shape == (1, 2, 3)
    np.testing.assert_allclose(poses[0, 0], x[0, :3])
    np.testing.assert_allclose(poses[0, 1], [1.0 - 0.5 * math.cos(-0.4), 2.0 - 0.5 * math.sin(-0.4), -0.4])
    # driving straight ahead, the trailer lines up behind the car (hitch angle -> 0)
    xs = robot.rollout(np.array([[0.0, 0.0, 0.0, 0.6]]), np.tile([[0.5, 0.0]], (1, 80, 1)))
    hitch = robot.policy_features(xs)[0, :, 0]
    assert abs(hitch[0] + 0.6) < 1e-12 and abs(hitch[-1]) < 0.02 and np.all(np.diff(np.abs(hitch)) <= 1e-12)


@pytest.mark.parametrize("name", ["unicycle1_v0", "unicycle1_v1", "unicycle2_v0", "car1_v0"])
def test_mirror_of_a_rollout_is_the_rollout_of_the_mirror(name):
    robot = make_robot(name)
    rng = np.random.default_rng(3)
    x0 = np.array([robot.rest_state(0.3, -0.2, 0.4)])
    if robot.state_dim == 4:
        x0[0, 3] = 0.1
    u = robot.sample_controls(rng, (1, 40))
    mirrored = robot.rollout(robot.mirror_states(x0), u * np.asarray(robot.control_mirror_signs))
    np.testing.assert_allclose(mirrored, robot.mirror_states(robot.rollout(x0, u)), atol=1e-12)


MODEL_PARAMS = {"unicycle1_v0": UnicycleParams, "unicycle1_v1": UnicycleParams, "unicycle1_v2": UnicycleParams,
                "unicycle2_v0": Unicycle2Params, "car1_v0": CarTrailerParams}


@pytest.mark.requires_data("dynobench")
@pytest.mark.parametrize("name", DYNOBENCH)
def test_default_parameters_are_the_model_files(name):
    import yaml

    model = yaml.safe_load((suite_dir("dynobench") / "models" / f"{name}.yaml").read_text())
    assert make_robot(name).params == MODEL_PARAMS[name].from_dynobench_model(model)
    assert make_robot(name).dt == model["dt"] and list(make_robot(name).distance_weights) == model["distance_weights"]


def test_second_order_unicycle_saturates_v_and_w_at_the_state_bounds():
    robot = Unicycle2()
    assert robot.state_low.tolist()[3:] == [-0.5, -0.5] and robot.state_high.tolist()[3:] == [0.5, 0.5]
    assert np.all(np.isinf(robot.state_low[:3])) and robot.speed(np.array([0, 0, 0, 0.3, 0.1])) == 0.3
    # full acceleration from v = 0.49: dynobench's unclipped step would give 0.515; ours stops at 0.5
    x = np.array([[0.0, 0.0, 0.0, 0.49, -0.49]])
    nxt = robot.step(x, np.array([[0.25, -0.25]]))[0]
    np.testing.assert_allclose(nxt, [0.049, 0.0, -0.049, 0.5, -0.5], atol=1e-15)
    # the same step is an unclipped Euler step with the effective controls, within the control bounds
    eff = robot.effective_controls(np.concatenate([x, nxt[None]]), np.array([[0.25, -0.25]]))
    np.testing.assert_allclose(eff, [[0.1, -0.1]], atol=1e-12)
    unclipped = x[0] + 0.1 * np.array([0.49, 0.0, -0.49, eff[0, 0], eff[0, 1]])
    np.testing.assert_allclose(unclipped, nxt, atol=1e-15)
    # a long rollout under constant acceleration never leaves the bounds, and the speed moves the robot
    xs = robot.rollout(np.zeros((1, 5)), np.tile([[0.25, 0.25]], (1, 60, 1)))[0]
    assert xs[:, 3].max() == 0.5 and xs[:, 4].max() == 0.5 and xs[20, 3] == pytest.approx(0.5)
    assert xs[1, 0] == 0.0 and xs[2, 0] == pytest.approx(0.1 * 0.025)  # position follows the previous speed
    assert robot.policy_features(xs).shape == (61, 2) and robot.has_mirror
    np.testing.assert_allclose(robot.rest_state(1.0, 2.0, 7.0), [1.0, 2.0, 7.0 - 2 * math.pi, 0.0, 0.0])


@pytest.mark.parametrize("name", DYNOBENCH)
def test_casadi_step_is_the_euler_step_without_wrapping_or_clipping(name):
    import casadi as ca

    robot = make_robot(name)
    S, C = robot.state_dim, robot.control_dim
    xs, us = ca.SX.sym("x", S), ca.SX.sym("u", C)
    f = ca.Function("f", [xs, us], [robot.casadi_step(xs, us)])
    rng = np.random.default_rng(5)
    for _ in range(5):
        x = robot.rest_state(*rng.uniform(-2, 2, 2), rng.uniform(-3, 3))
        x[3:] = rng.uniform(-0.4, 0.4, S - 3)  # v, w of the second-order unicycle; the trailer's yaw
        u = robot.sample_controls(rng, ())
        got = np.asarray(f(x, u)).ravel()
        want = robot.step(x, u)
        diff = got - want
        for i in robot.angle_indices:
            diff[i] = (diff[i] + math.pi) % (2 * math.pi) - math.pi
        np.testing.assert_allclose(diff, 0.0, atol=1e-12)
    # beyond the bounds it neither clips the controls nor wraps the yaw
    x = robot.rest_state(0.0, 0.0, 3.1)
    u = robot.control_high * 2
    got = np.asarray(f(x, u)).ravel()
    assert got[2] > math.pi or robot.control_dim == 2 and not np.allclose(got, robot.step(x, u))


HOOK = np.ones((10, 10), dtype=np.uint8)
HOOK[1:9, 1:9] = 0
HOOK[1:6, 5] = 1  # a wall hanging from the top: the way round is below it


def _hook(name: str) -> Problem:
    spec = robot_spec(name)
    world = GridMap(HOOK, spec.map_cell_size, "hook")
    return Problem.from_cells(world, (3, 2), 90.0, (3, 7), robot=spec.make(), goal_radius=spec.goal_tolerance,
                              name="hook")


@pytest.mark.parametrize("planner", ["rrt", "sst", "ompl-rrt", "ompl-kpiece"])
@pytest.mark.parametrize("name", ["unicycle1_v0", "unicycle2_v0", "car1_v0"])
def test_classical_planners_solve_a_small_grid_map(name, planner):
    problem = _hook(name)
    res = plan(problem, planner=planner, time_limit=60.0, seed=0)
    assert res.success and res.validated, res.reason
    assert res.robot == name and res.states.shape[1] == problem.robot.state_dim
    assert res.duration_ratio >= 1.0
    low = getattr(problem.robot, "state_low", None)
    if low is not None:  # the second-order unicycle's |v|, |w| <= 0.5 hold on every state of the path
        assert np.all((res.states >= low) & (res.states <= problem.robot.state_high))
    if name == "car1_v0":  # both bodies clear at every stored state (the validator checked; check again)
        from envs.collision import make_checker, robot_collides

        checker = make_checker(problem.world, problem.robot.bodies)
        assert not robot_collides(problem.robot, checker, res.states).any()


@pytest.mark.parametrize("name", ["unicycle1_v1", "unicycle1_v2"])
def test_forward_only_unicycles_plan_in_open_space(name):
    spec = robot_spec(name)
    grid = np.ones((10, 10), dtype=np.uint8)
    grid[1:9, 1:9] = 0
    problem = Problem.from_cells(GridMap(grid, spec.map_cell_size, "open"), (4, 4), 180.0, (3, 7),
                                 robot=spec.make(), goal_radius=spec.goal_tolerance, name="open")
    res = plan(problem, planner="rrt", time_limit=60.0, seed=1)
    assert res.success and res.validated, res.reason
    assert np.all(res.controls[:, 0] >= 0.25 - 1e-12)  # never slower than the variant allows


@pytest.mark.parametrize("name", ["unicycle2_v0", "car1_v0"])
def test_a_planned_path_written_as_a_dynobench_solution_passes_the_checker(tmp_path, name):
    from envs.dynobench import load_instance
    from envs.dynobench_check import check_files

    problem = _hook(name)
    res = plan(problem, planner="rrt", time_limit=60.0, seed=0)
    assert res.success and res.validated, res.reason
    # the same world as a dynobench instance: every wall cell a box, start and goal the path's ends
    world = problem.world
    rows, cols = np.nonzero(world.grid)
    centres = world.cell_to_xy(rows, cols)
    s = world.cell_size
    obstacles = "".join(f"    - {{type: box, center: [{x!r}, {y!r}], size: [{s!r}, {s!r}]}}\n"
                        for x, y in np.asarray(centres, dtype=float).reshape(-1, 2).tolist())
    x0, x1, y0, y1 = world.bounds
    inst = tmp_path / "hook.yaml"
    inst.write_text(f"environment:\n  min: [{x0!r}, {y0!r}]\n  max: [{x1!r}, {y1!r}]\n  obstacles:\n{obstacles}"
                    f"robots:\n  - type: {name}\n    start: {res.states[0].tolist()}\n    goal: {res.states[-1].tolist()}\n")
    out = res.to_dynobench(tmp_path / "sol.yaml", instance=load_instance(inst))
    rep = check_files(out, inst)
    assert rep.accepted, rep.summary()
    assert rep.max_jump < 1e-9 and rep.goal_distance < 1e-9  # the written file holds the path exactly
    if name == "unicycle2_v0":  # this path saturates v or w at some steps: those controls were rewritten
        from envs.dynobench import load_solution

        written = load_solution(out).actions
        assert not np.allclose(written, res.controls) and np.all(np.abs(written) <= 0.25 + 1e-12)
