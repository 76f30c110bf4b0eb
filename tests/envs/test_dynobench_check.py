"""The independent dynobench checker (envs/dynobench_check.py) and its geometry (envs/penetration.py):
every reference solution accepted, corrupted ones rejected for the right reason, and a solution that
passes dynobench's tests but clips an obstacle between its stored states."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from envs.collision import rectangles_overlap
from envs.dynobench import DynobenchSolution, load_instance, load_solution
from envs.dynobench_check import DYNOBENCH_TESTS, check_files, check_solution
from envs.footprint import Footprint
from envs.penetration import bodies_penetration, rect_box_penetration, rect_circle_penetration
from envs.registry import make_robot
from envs.suites import has_suite, suite_dir


def _pairs() -> list[tuple[Path, Path]]:
    if not has_suite("dynobench"):
        return []
    return [(p.with_suffix("") / "idbastar_v0_solution_v0.yaml", p)
            for p in sorted((suite_dir("dynobench") / "envs").glob("*/*.yaml"))]


def _reference(robot: str, instance: str):
    inst_path = suite_dir("dynobench") / "envs" / robot / f"{instance}.yaml"
    inst = load_instance(inst_path)
    return inst, load_solution(inst_path.with_suffix("") / "idbastar_v0_solution_v0.yaml", make_robot(robot))


def _failed(report) -> set[str]:
    return {t for t in report.failed if t in DYNOBENCH_TESTS}


# ------------------------------------------------------------------------------------------ geometry
def test_penetration_depths_of_simple_cases():
    box = np.array([[0.0, 0.0, 2.0, 2.0]])  # [-1, 1]^2
    # an axis-aligned 0.5 x 0.25 rectangle pushed 0.1 m into the box's right side
    assert rect_box_penetration(np.array([1.15, 0.0, 0.0]), (0.25, 0.125), box)[0] == pytest.approx(0.1)
    assert rect_box_penetration(np.array([1.25, 0.0, 0.0]), (0.25, 0.125), box)[0] == 0.0  # touching
    # rotated 45 degrees, its corner 0.05 m into the side
    r = math.hypot(0.25, 0.125)
    corner_reach = 0.25 * math.cos(math.pi / 4) + 0.125 * math.sin(math.pi / 4)
    assert r > corner_reach
    pose = np.array([1.0 + corner_reach - 0.05, 0.0, math.pi / 4])
    assert rect_box_penetration(pose, (0.25, 0.125), box)[0] == pytest.approx(0.05)
    circle = np.array([[0.0, 0.0, 0.3]])
    assert rect_circle_penetration(np.array([0.5, 0.0, 0.0]), (0.25, 0.125), circle)[0] == pytest.approx(0.05)
    # centred on the circle: out by the radius plus the rectangle's smallest half side
    assert rect_circle_penetration(np.array([0.0, 0.0, 1.0]), (0.25, 0.125), circle)[0] == pytest.approx(0.3 + 0.125)
    corner = np.array([0.25 + 0.3 / math.sqrt(2) - 0.01, 0.125 + 0.3 / math.sqrt(2) - 0.01, 0.0])
    assert rect_circle_penetration(corner, (0.25, 0.125), circle)[0] == pytest.approx(0.3 - (0.3 - 0.01 * math.sqrt(2)))


def test_penetration_agrees_with_a_brute_force_minimum_over_directions_and_with_the_planners_overlap_test():
    rng = np.random.default_rng(0)
    fp = Footprint(0.5, 0.25)
    poses = np.column_stack([rng.uniform(-0.8, 0.8, 400), rng.uniform(-0.6, 0.6, 400), rng.uniform(-math.pi, math.pi, 400)])
    box = np.array([0.1, -0.1, 0.9, 0.4])
    depth = rect_box_penetration(poses, (0.25, 0.125), box[None])[:, 0]
    # the planners' own separating-axis overlap test (a rectangle of the box's size at yaw 0) agrees
    overlap = rectangles_overlap(fp, poses, Footprint(0.9, 0.4), np.tile([0.1, -0.1, 0.0], (400, 1)))
    assert np.array_equal(depth > 0, overlap)
    # depth = the smallest projection overlap over all directions (a fine sweep can only over-estimate)
    rect = fp.corners(poses)  # (N, 4, 2)
    boxc = np.array([[0.55, 0.1], [-0.35, 0.1], [-0.35, -0.3], [0.55, -0.3]])
    ang = np.linspace(0, math.pi, 7200, endpoint=False)
    dirs = np.column_stack([np.cos(ang), np.sin(ang)])
    pr, pb = rect @ dirs.T, boxc @ dirs.T  # (N, 4, D), (4, D)
    sweep = np.minimum(pr.max(1) - pb.min(0), pb.max(0) - pr.min(1)).min(axis=1)
    inside = depth > 0
    assert inside.sum() > 50
    np.testing.assert_array_less(depth[inside] - 1e-12, sweep[inside])
    np.testing.assert_allclose(depth[inside], sweep[inside], atol=1e-3)


def test_every_body_of_the_car_with_trailer_counts():
    robot = make_robot("car1_v0")
    # the car clear of a circle behind it, its trailer (0.5 m back) on top of it
    circle = np.array([[-0.5, 0.0, 0.05]])
    d, ob = bodies_penetration(robot.bodies, robot.footprint_poses(np.array([[0.0, 0.0, 0.0, 0.0]])), np.zeros((0, 4)), circle)
    assert d[0] == pytest.approx(0.05 + 0.125) and ob[0] == 0
    d, ob = bodies_penetration(robot.bodies, robot.footprint_poses(np.array([[0.0, 0.0, 0.0, math.pi / 2]])),
                               np.zeros((0, 4)), circle)
    assert d[0] == 0.0 and ob[0] == -1


# ------------------------------------------------------------------------------- reference solutions
@pytest.mark.requires_data("dynobench")
def test_all_reference_solutions_are_accepted_at_both_goal_tolerances():
    pairs = _pairs()
    assert len(pairs) == 11
    at_001 = 0
    for sol, inst in pairs:
        rep = check_files(sol, inst)
        assert rep.accepted and rep.between_ok, rep.summary()
        assert rep.max_jump < 2e-5 and rep.max_penetration == 0.0 and rep.world_box_distance == 0.0
        assert rep.cost == pytest.approx(rep.file_cost)
        at_001 += check_files(sol, inst, goal_tol=0.01).accepted
    assert at_001 == 11  # the README: the largest goal distance is 0.0095 (car1_v0/parallelpark_0)


@pytest.mark.requires_data("dynobench")
def test_a_state_moved_into_an_obstacle_is_rejected_for_the_collision():
    inst, sol = _reference("unicycle1_v0", "bugtrap_0")
    x = sol.states.copy()
    x[100, :2] = inst.boxes[0, :2]  # the centre of the trap's right wall
    rep = check_solution(inst, replace(sol, states=x))
    assert "collision" in _failed(rep) and rep.penetration_state == 100
    assert rep.penetration_obstacle == "environment.obstacles[0]" and rep.max_penetration > 0.1
    assert rep.jump_step in (99, 100)  # moving it also breaks the dynamics there


@pytest.mark.requires_data("dynobench")
def test_an_action_beyond_its_bounds_is_rejected():
    inst, sol = _reference("unicycle2_v0", "kink_0")
    u = sol.actions.copy()
    u[40] = [0.3, -0.1]  # a = 0.3 > 0.25
    rep = check_solution(inst, replace(sol, actions=u))
    assert {"control_bounds", "dynamics"} <= _failed(rep) and rep.control_bound_step == 40
    assert rep.control_bound_distance == pytest.approx(0.05)


@pytest.mark.requires_data("dynobench")
def test_a_speed_beyond_the_state_bounds_is_rejected():
    inst, sol = _reference("unicycle2_v0", "parallelpark_0")
    x = sol.states.copy()
    x[20, 3] = 0.52
    rep = check_solution(inst, replace(sol, states=x))
    assert "state_bounds" in _failed(rep) and rep.state_bound_state == 20
    assert rep.state_bound_distance == pytest.approx(0.02)


@pytest.mark.requires_data("dynobench")
@pytest.mark.parametrize("robot, instance", [("unicycle1_v0", "kink_0"), ("car1_v0", "bugtrap_0")])
def test_a_dropped_state_is_rejected_for_the_dynamics_jump(robot, instance):
    inst, sol = _reference(robot, instance)
    k = len(sol.actions) // 2
    cut = replace(sol, states=np.delete(sol.states, k, axis=0), actions=np.delete(sol.actions, k, axis=0))
    rep = check_solution(inst, cut)
    assert _failed(rep) == {"dynamics"} and rep.jump_step == k - 1 and rep.max_jump > 0.01


@pytest.mark.requires_data("dynobench")
def test_a_moved_goal_is_rejected_and_the_published_tolerance_is_tighter():
    inst, sol = _reference("car1_v0", "parallelpark_0")
    rep = check_solution(replace(inst, goal=inst.goal + np.array([0.05, 0.0, 0.0, 0.0])), sol)
    assert _failed(rep) == {"goal"} and rep.goal_distance > 0.03
    tight = check_solution(inst, sol, goal_tol=0.009)  # its goal distance is 0.0095
    assert _failed(tight) == {"goal"} and check_solution(inst, sol, goal_tol=0.01).accepted


@pytest.mark.requires_data("dynobench")
def test_a_reference_point_outside_the_world_box_is_rejected():
    inst, sol = _reference("unicycle1_v0", "parallelpark_0")
    rep = check_solution(replace(inst, env_max=np.array([1.5, 1.2])), sol)  # the goal is at x = 1.9
    assert _failed(rep) == {"world_box"} and rep.world_box_distance == pytest.approx(sol.states[:, 0].max() - 1.5)
    assert sol.states[rep.world_box_state, 0] == sol.states[:, 0].max()


def test_a_solution_that_clips_an_obstacle_between_stored_states_passes_dynobench_but_not_ours(tmp_path):
    robot = make_robot("car1_v0")
    x = robot.rollout(np.array([[2.0, 2.0, 0.0, 0.0]]), np.tile([[0.5, 1.047]], (1, 7, 1)))[0]  # 0.35 rad per step
    u = np.tile([0.5, 1.047], (7, 1))
    k = 5
    d = x[k + 1] - x[k]
    d[2:] = (d[2:] + math.pi) % (2 * math.pi) - math.pi
    mid = x[k] + 0.5 * d
    c, s = math.cos(mid[2]), math.sin(mid[2])
    corner = mid[:2] + np.array([0.25 * c + 0.125 * s, 0.25 * s - 0.125 * c])  # front right, halfway through step k
    # its distance to both bodies at every stored state, then a circle at half of it
    big = np.array([[*corner, 1.0]])
    clear = 1.0 - np.max([rect_circle_penetration(robot.footprint_poses(x)[:, b], (body.half_length, body.half_width),
                                                  big)[:, 0] for b, body in enumerate(robot.bodies)], axis=0)
    r = 0.5 * clear.min()
    assert r > 0.01  # it clips deeper than dynobench's collision tolerance
    inst_file = tmp_path / "clip.yaml"
    inst_file.write_text(
        "environment:\n  min: [0, 0]\n  max: [4, 4]\n  obstacles:\n"
        f"    - type: sphere\n      center: [{float(corner[0])!r}, {float(corner[1])!r}]\n      size: [{float(r)!r}]\n"
        f"robots:\n  - type: car1_v0\n    start: {x[0].tolist()}\n    goal: {x[-1].tolist()}\n")
    inst = load_instance(inst_file)
    rep = check_solution(inst, DynobenchSolution(x, u, 0.7), substeps=4)
    assert rep.accepted and rep.max_penetration == 0.0, rep.summary()
    assert not rep.between_ok and rep.between_step == k and rep.between_obstacle == "environment.obstacles[0]"
    assert 0 < rep.between_penetration < r  # 4 sub-states miss the deepest point, halfway
    fine = check_solution(inst, DynobenchSolution(x, u, 0.7), substeps=9)
    assert fine.accepted and fine.between_step == k and fine.between_penetration == pytest.approx(r, rel=0.01)
    with pytest.raises(ValueError, match="substeps"):
        check_solution(inst, DynobenchSolution(x, u, 0.7), substeps=3)
