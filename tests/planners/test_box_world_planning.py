"""Planners on a BoxWorld: rrt, sst, OMPL and the anytime search (random controls) solve a small world
of boxes and a circle with dynobench's unicycle and car with trailer; PyBullet validates every path;
results carry the world, and ``ditree plot`` redraws them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ditree.api import plan
from ditree.cli import main
from envs.box_world import BoxWorld
from envs.collision import make_checker, robot_collides
from envs.goal import DiscGoal
from envs.problem import Problem
from envs.registry import make_robot
from planners.anytime import AnytimeParams, AnytimeRRT
from planners.results import PlanResult
from planners.validate import validate

# a wall from the top to 0.8 m above the floor, a box and a circle: the way is under the wall
WORLD = BoxWorld((0.0, 0.0, 4.0, 3.0), np.array([[2.0, 1.9, 0.2, 2.2], [3.2, 0.6, 0.6, 0.3]]),
                 np.array([[1.0, 0.8, 0.3]]), "tiny")


def _problem(name: str) -> Problem:
    robot = make_robot(name)
    return Problem(robot, WORLD, robot.rest_state(0.6, 2.2, 0.0), DiscGoal(np.array([3.3, 2.2]), 0.2), name="tiny")


def _clear_and_bounded(problem: Problem, states: np.ndarray) -> None:
    x0, x1, y0, y1 = WORLD.extent
    assert ((states[:, 0] >= x0) & (states[:, 0] <= x1) & (states[:, 1] >= y0) & (states[:, 1] <= y1)).all()
    checker = make_checker(WORLD, problem.robot.bodies, backend="pybullet")
    try:
        assert not robot_collides(problem.robot, checker, states).any()  # every body, PyBullet
    finally:
        checker.close()


@pytest.mark.parametrize("planner", ["rrt", "sst", "ompl-rrt"])
@pytest.mark.parametrize("name", ["unicycle1_v0", "car1_v0"])
def test_planners_solve_a_box_world(name, planner):
    problem = _problem(name)
    res = plan(problem, planner=planner, time_limit=60.0, seed=0)
    assert res.success and res.validated, res.reason
    assert res.robot == name and res.map == "tiny" and res.duration_ratio >= 1.0
    assert problem.goal_region.reached(res.states[-1:])[0]
    _clear_and_bounded(problem, res.states)


def test_same_seed_same_path():
    a = plan(_problem("unicycle1_v0"), planner="rrt", time_limit=60.0, seed=3)
    b = plan(_problem("unicycle1_v0"), planner="rrt", time_limit=60.0, seed=3)
    assert a.success and np.array_equal(a.states, b.states)


def test_anytime_search_with_random_controls_improves_in_a_box_world():
    problem = _problem("car1_v0")
    res = AnytimeRRT(AnytimeParams(batch_size=64, max_iterations=80)).solve(problem, time_limit=60.0, seed=0)
    hist = np.array(res.extra["cost_history"])
    assert res.success and len(hist) >= 2 and hist[-1, 1] < hist[0, 1]
    ok, why = validate(problem, res)
    assert ok, why


def test_result_carries_the_world_and_plot_redraws_it(tmp_path, capsys):
    res = plan(_problem("car1_v0"), planner="rrt", time_limit=60.0, seed=0, record_tree=True)
    path = tmp_path / "res.json"
    res.to_json(path, include_tree=True)
    d = json.loads(path.read_text())
    assert d["world"]["kind"] == "boxworld" and d["world"]["boxes"] == WORLD.boxes.tolist()
    back = PlanResult.from_json(path)
    assert BoxWorld.from_dict(back.world).content_hash() == WORLD.content_hash()
    png = tmp_path / "res.png"
    assert main(["plot", str(path), "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size[0] > 200 and im.size[1] > 200
    # a grid-map result has no world field: old results and grid results read as before
    del d["world"]
    assert PlanResult.from_dict(d).world is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**d, "world": {"kind": "mesh"}}))
    assert main(["plot", str(bad), "--out", str(tmp_path / "b.png")]) == 2
    assert "not a box world" in capsys.readouterr().err


def test_a_unicycle_with_a_minimum_speed_searches_with_lattice_extensions():
    """unicycle1_v1 (0.25 <= v <= 0.5 m/s) is registered with 1-6 s extensions of lattice controls
    (envs.unicycle.SEARCH_MIN_SPEED): on a generated parking problem SST finds the 0.25 goal region in a
    few iterations with them, and not in 300 with the uniform 0.1-0.5 s pieces that unicycle1_v0 keeps."""
    from envs.box_generators import box_problem
    from envs.registry import robot_spec
    from planners.sst import SST

    assert robot_spec("unicycle1_v1").search.extension.levels == 3
    assert robot_spec("unicycle1_v0").search.extension.levels == 0
    problem = box_problem("parked", 1528060793, make_robot("unicycle1_v1"))
    for seed in range(3):
        res = SST(max_iterations=50).solve(problem, 60.0, seed)
        assert res.success, seed
        checker = make_checker(problem.world, problem.robot.bodies)
        assert not robot_collides(problem.robot, checker, res.states).any()
    uniform = {"levels": 0, "min_steps": 5, "max_steps": 25, "min_hold": 3, "max_hold": 12}
    assert not SST(max_iterations=300, sampler_overrides=uniform).solve(problem, 60.0, 0).success
