"""BoxWorld: construction and its one-line errors, dynobench environments, exact collision against a
brute-force point test and against PyBullet, crops, the occupancy raster, the duration lower bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from envs.box_world import BoxWorld
from envs.collision import make_checker, robot_collides
from envs.errors import MapFormatError
from envs.footprint import Footprint
from envs.goal import DiscGoal
from envs.local_map import LocalMapSpec, local_maps, local_maps_torch
from envs.lower_bound import box_world_distance_to_goal, duration_lower_bound, segments_blocked
from envs.problem import Problem
from envs.registry import make_robot
from envs.suites import suite_dir

BOXES = np.array([[2.0, 1.9, 0.2, 2.2], [3.2, 0.6, 0.6, 0.3]])
CIRCLES = np.array([[1.0, 0.8, 0.3]])
WORLD = BoxWorld((0.0, 0.0, 4.0, 3.0), BOXES, CIRCLES, "tiny")


# ---------------------------------------------------------------------- construction
@pytest.mark.parametrize("kw, match", [
    ({"bounds": (0, 0, 0, 1)}, r"xmin < xmax"),
    ({"bounds": (0, 0, 1)}, r"bounds must be 4"),
    ({"bounds": (0, 0, 1, "a")}, r"bounds must be 4 numbers"),
    ({"boxes": np.zeros((1, 3))}, r"boxes .* \(n, 4\) array, got shape \(1, 3\)"),
    ({"boxes": [[1, 1, 0, 1]]}, r"box 0 has a side <= 0"),
    ({"boxes": [[1, np.nan, 1, 1]]}, r"boxes .* row 0 is not finite"),
    ({"circles": [[1, 1, -1]]}, r"circle 0 has radius -1 <= 0"),
    ({"cell_size": 0.0}, r"cell_size must be a positive number"),
])
def test_bad_worlds_are_one_line_errors_naming_the_field(kw, match):
    args = {"bounds": (0, 0, 4, 3), **kw}
    with pytest.raises(MapFormatError, match=match) as e:
        BoxWorld(**args, name="w")
    assert "\n" not in str(e.value) and str(e.value).startswith("w: ")


ENV = {"min": [0, 0], "max": [6, 6], "obstacles": [{"type": "box", "center": [3, 3], "size": [1, 2]},
                                                    {"type": "sphere", "center": [1, 1], "size": [0.5]}]}


def test_from_dynobench_environment_reads_boxes_and_spheres():
    w = BoxWorld.from_dynobench_environment(ENV, "env", "x.yaml")
    assert w.bounds == (0.0, 0.0, 6.0, 6.0) and w.extent == (0.0, 6.0, 0.0, 6.0)
    np.testing.assert_array_equal(w.boxes, [[3, 3, 1, 2]])
    np.testing.assert_array_equal(w.circles, [[1, 1, 0.5]])  # a sphere's size[0] is its radius
    assert (w.name, w.source) == ("env", "x.yaml")


@pytest.mark.parametrize("change, match", [
    (lambda e: e.pop("min"), r"environment.min is missing"),
    (lambda e: e.update(max=[1]), r"environment.max must be \[x, y\]"),
    (lambda e: e.update(max=[0, 6]), r"environment.min \[0.0, 0.0\] must be below"),
    (lambda e: e["obstacles"][1].update(type="cylinder"), r"obstacles\[1\].type is 'cylinder'"),
    (lambda e: e["obstacles"][0].update(size=[1]), r"obstacles\[0\].size must be \[sx, sy\]"),
    (lambda e: e["obstacles"][0].update(size=[1, -2]), r"obstacles\[0\].size must be positive"),
    (lambda e: e["obstacles"][1].pop("center"), r"obstacles\[1\].center must be \[x, y\]"),
    (lambda e: e.update(obstacles={"a": 1}), r"environment.obstacles must be a list"),
])
def test_bad_dynobench_environments_name_the_field(change, match):
    import copy

    env = copy.deepcopy(ENV)
    change(env)
    with pytest.raises(MapFormatError, match=match) as e:
        BoxWorld.from_dynobench_environment(env, "env", "inst.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("inst.yaml: ")


@pytest.mark.requires_data("dynobench")
def test_every_dynobench_environment_loads():
    import yaml

    files = sorted((suite_dir("dynobench") / "envs").glob("*/*.yaml"))
    assert len(files) == 11
    for f in files:
        d = yaml.safe_load(f.read_text())
        w = BoxWorld.from_dynobench_environment(d["environment"], d.get("name", f.stem), str(f))
        n = len(d["environment"]["obstacles"])
        assert len(w.boxes) + len(w.circles) == n and n > 0
        for r in d["robots"]:  # start and goal reference points are free and within bounds
            assert w.is_free_point(np.array([r["start"][:2], r["goal"][:2]], dtype=float)).all(), f


def test_raster_and_hash():
    H, W = WORLD.shape
    assert (H, W) == (60, 80)
    rc = np.argwhere(np.ones((H, W)))
    xy = WORLD.cell_to_xy(rc[:, 0], rc[:, 1])
    np.testing.assert_array_equal(WORLD.xy_to_cell(xy), rc)  # cell centres round-trip
    assert np.array_equal(WORLD.grid[rc[:, 0], rc[:, 1]] == 0, WORLD.is_free_point(xy))
    assert WORLD.is_wall_cell(-1, 0) and WORLD.is_wall_cell(0, W)
    assert WORLD.cell_to_xy(0, 0).tolist() == pytest.approx([0.025, 2.975])  # row 0 at the top
    same = BoxWorld((0.0, 0.0, 4.0, 3.0), BOXES.copy(), CIRCLES.copy(), "other name")
    moved = BoxWorld((0.0, 0.0, 4.0, 3.0), BOXES + [0.01, 0, 0, 0], CIRCLES, "tiny")
    assert same.content_hash() == WORLD.content_hash() != moved.content_hash()
    assert BoxWorld.from_dict(WORLD.to_dict()).content_hash() == WORLD.content_hash()
    pts = WORLD.sample_free_points(np.random.default_rng(0), 500)
    assert pts.shape == (500, 2) and WORLD.is_free_point(pts).all()
    assert pts[:, 0].min() < 0.3 and pts[:, 0].max() > 3.7  # spread over the bounds


# ---------------------------------------------------------------------- collision
def _near_obstacle_poses(world: BoxWorld, n: int, rng, reach: float) -> np.ndarray:
    """Poses whose centres lie within ``reach`` of an obstacle's outline (boxes and circles)."""
    centres = np.concatenate([world.boxes[:, :2], world.circles[:, :2]])
    half = np.concatenate([world.boxes[:, 2:] / 2, np.repeat(world.circles[:, 2:], 2, axis=1)])
    k = rng.integers(0, len(centres), n)
    xy = centres[k] + rng.uniform(-1, 1, (n, 2)) * (half[k] + reach)
    return np.column_stack([xy, rng.uniform(-np.pi, np.pi, n)])


def _brute_force(world: BoxWorld, fp: Footprint, poses: np.ndarray, step: float) -> np.ndarray:
    """Does any point of a ``step``-spaced lattice on the rectangle lie inside an obstacle?"""
    u = np.linspace(-fp.half_length, fp.half_length, int(np.ceil(fp.length / step)) + 1)
    v = np.linspace(-fp.half_width, fp.half_width, int(np.ceil(fp.width / step)) + 1)
    U, V = (a.ravel() for a in np.meshgrid(u, v))
    c, s = np.cos(poses[:, 2:3]), np.sin(poses[:, 2:3])
    pts = np.stack([poses[:, 0:1] + c * U - s * V, poses[:, 1:2] + s * U + c * V], axis=-1)  # (N, P, 2)
    return world.in_obstacle(pts).any(axis=1)


def test_analytic_checker_matches_a_brute_force_point_test():
    rng = np.random.default_rng(0)
    fp = Footprint(0.5, 0.25)
    poses = _near_obstacle_poses(WORLD, 800, rng, 0.4)
    exact = make_checker(WORLD, fp).collides(poses)
    assert 0.2 < exact.mean() < 0.8
    # a lattice point inside an obstacle is a collision: the exact test must agree
    assert not (_brute_force(WORLD, fp, poses, 0.01) & ~exact).any()
    # an exact overlap shows up on the lattice of the rectangle grown by 2 cm (5 mm spacing)
    assert not (exact & ~_brute_force(WORLD, fp.inflated(0.02), poses, 0.005)).any()


@pytest.mark.parametrize("robot_name", ["unicycle1_v0", "car1_v0"])
def test_analytic_and_pybullet_agree_near_obstacles(robot_name):
    robot = make_robot(robot_name)
    rng = np.random.default_rng(1)
    poses = _near_obstacle_poses(WORLD, 3000, rng, 0.5)
    states = np.zeros((len(poses), robot.state_dim))
    states[:, :3] = poses
    if robot.state_dim == 4:  # car with trailer: hitch angles around the car's heading
        states[:, 3] = poses[:, 2] + rng.uniform(-0.7, 0.7, len(poses))
    exact = robot_collides(robot, make_checker(WORLD, robot.bodies), states)
    pyb = make_checker(WORLD, robot.bodies, backend="pybullet")
    try:
        bullet = robot_collides(robot, pyb, states)
    finally:
        pyb.close()
    grown = robot_collides(robot, make_checker(WORLD, [b.inflated(1e-5) for b in robot.bodies]), states)
    grazing = grown & ~exact  # within 10 um of an obstacle: PyBullet's margin may call these collisions
    assert grazing.mean() < 0.01 and 0.2 < exact.mean() < 0.9
    assert np.array_equal(exact[~grazing], bullet[~grazing])


def test_reference_point_outside_bounds_collides_but_the_footprint_may_stick_out():
    robot = make_robot("unicycle1_v0")
    states = np.array([[0.1, 1.5, 0.0], [-0.01, 1.5, 0.0], [3.9, 2.9, 0.5], [4.0, 3.0, 0.0]])
    for backend in ("analytic", "pybullet"):
        checker = make_checker(WORLD, robot.bodies, backend=backend)
        assert robot_collides(robot, checker, states).tolist() == [False, True, False, False]


# ---------------------------------------------------------------------- crops
def test_crops_are_exact_point_tests_and_numpy_matches_torch():
    spec = LocalMapSpec(size=20, resolution=0.1)
    rng = np.random.default_rng(2)
    poses = np.column_stack([WORLD.sample_free_points(rng, 300), rng.uniform(-np.pi, np.pi, 300)])
    a = local_maps(WORLD, poses, spec)
    b = local_maps_torch(WORLD, torch.as_tensor(poses), spec).numpy()
    assert a.shape == (300, 20, 20) and set(np.unique(a)) == {-1.0, 1.0}
    assert (a != b).mean() < 1e-4  # float32 sample points may differ exactly on an edge
    # facing +x at (1.6, 1.9): the wall box spans x 1.9..2.1, i.e. rows with forward in (0.3, 0.5)
    crop = local_maps(WORLD, np.array([[1.6, 1.9, 0.0]]), spec)[0]
    fwd = (spec.size / 2 - 0.5 - np.arange(spec.size)) * spec.resolution
    assert (crop[(fwd > 0.3) & (fwd < 0.5)] == 1).all() and (crop[(fwd > -0.3) & (fwd < 0.25)] == -1).all()
    # outside the bounds (the reference point cannot go there) is wall
    corner = local_maps(WORLD, np.array([[0.05, 0.05, 0.0]]), spec)[0]
    assert (corner[:, 11:] == 1).all() and (corner[11:] == 1).all() and (corner[5:9, 5:9] == -1).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_crops_on_cuda_match_numpy():
    spec = LocalMapSpec()
    rng = np.random.default_rng(3)
    poses = np.column_stack([WORLD.sample_free_points(rng, 500), rng.uniform(-np.pi, np.pi, 500)])
    crops = local_maps_torch(WORLD, torch.as_tensor(poses, device="cuda"), spec)
    assert crops.device.type == "cuda"
    assert (crops.cpu().numpy() != local_maps(WORLD, poses, spec)).mean() < 1e-4


# ---------------------------------------------------------------------- lower bound
def test_segments_blocked_only_through_interiors():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    a = np.array([[-1, 0.5], [-1, 0], [0.5, -1], [0, 0], [-1, -1], [2, 2]])
    b = np.array([[2, 0.5], [2, 0], [0.5, 2], [1, 1], [0, 1], [3, 3]])
    assert segments_blocked(a, b, [square]).tolist() == [True, False, True, True, False, False]


def test_box_world_bound_goes_round_a_wall():
    wall = BoxWorld((0, 0, 6, 6), np.array([[3.0, 3.0, 0.2, 4.0]]), name="wall")
    d = box_world_distance_to_goal(wall, (1, 3), (5, 3), 0.1, 0.0)
    # round the wall's end (3 +- 0.1, 5): two legs and the end's width, minus the goal radius
    expect = 2 * math.hypot(1.9, 2.0) + 0.2 - 0.1
    assert d == pytest.approx(expect, rel=1e-9)
    assert box_world_distance_to_goal(wall, (1, 3), (5, 3), 0.1, 0.1) > d  # a margin only lengthens it


@pytest.mark.parametrize("robot_name", ["unicycle1_v0", "car1_v0"])
def test_lower_bound_is_below_planned_paths_and_above_the_straight_line(robot_name):
    from ditree.api import plan

    robot = make_robot(robot_name)
    problem = Problem(robot, WORLD, robot.rest_state(0.6, 2.2, 0.0), DiscGoal(np.array([3.3, 2.2]), 0.2), name="tiny")
    lb = duration_lower_bound(problem)
    straight = (np.linalg.norm(problem.goal - problem.start[:2]) - problem.goal_radius) / robot.top_speed
    assert lb > 1.2 * straight  # the wall is in the way
    for planner in ("rrt", "sst"):
        for seed in range(3):
            res = plan(problem, planner=planner, time_limit=60.0, seed=seed)
            assert res.success and res.validated, res.reason
            assert res.lower_bound_s == lb <= res.path_duration_s


@pytest.mark.requires_data("dynobench")
def test_lower_bound_of_dynobench_references_is_below_their_cost():
    """Every reference solution is at least as long as our bound (disc goal of the goal position)."""
    import yaml

    root = suite_dir("dynobench") / "envs"
    for f in sorted(root.glob("*/*.yaml")):
        d = yaml.safe_load(f.read_text())
        robot_name = d["robots"][0]["type"]
        try:
            robot = make_robot(robot_name)
        except ValueError:
            continue  # a robot not registered in this branch
        world = BoxWorld.from_dynobench_environment(d["environment"], d.get("name", f.stem), str(f))
        sol = yaml.safe_load((f.parent / f.stem / "idbastar_v0_solution_v0.yaml").read_text())
        states = np.asarray(sol["states"], dtype=float)
        goal = np.asarray(d["robots"][0]["goal"], dtype=float)
        reach = float(np.linalg.norm(states[-1, :2] - goal[:2])) + 1e-9
        problem = Problem(robot, world, states[0], DiscGoal(goal[:2], max(reach, 0.01)), name=f.stem)
        cost = (len(states) - 1) * robot.dt
        lb = duration_lower_bound(problem)
        straight = (np.linalg.norm(goal[:2] - states[0, :2]) - problem.goal_radius) / robot.top_speed
        assert straight - 1e-9 <= lb <= cost, f


def test_problem_names_a_start_outside_the_bounds_and_an_empty_world_works():
    from envs.errors import ScenarioError

    robot = make_robot("unicycle1_v0")
    empty = BoxWorld((0, 0, 3, 3), name="empty")
    with pytest.raises(ScenarioError, match=r"start position \[-0.5, 0.5\] is outside the world's bounds"):
        Problem(robot, empty, np.array([-0.5, 0.5, 0.0]), DiscGoal(np.array([2.5, 2.5]), 0.1))
    p = Problem(robot, empty, np.array([0.5, 0.5, 0.0]), DiscGoal(np.array([2.5, 2.5]), 0.1))
    assert duration_lower_bound(p) == pytest.approx((math.hypot(2, 2) - 0.1) / robot.top_speed)
    checker = make_checker(empty, robot.bodies, backend="pybullet")
    try:  # no obstacle: only the reference point's bounds can be violated
        assert robot_collides(robot, checker, np.array([[2.9, 2.9, 0.7], [3.1, 1.0, 0.0]])).tolist() == [False, True]
    finally:
        checker.close()
