"""Scenarios and problems (docs/maps.md): the paper's 15 test and 3 validation scenarios (the
ditree_car suite of the benchmark data directory), and bad scenario files (on a generated map)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from envs.errors import DitreeInputError, ScenarioError
from envs.generators import rooms
from envs.problem import (
    SCENARIO_COLUMNS,
    Problem,
    load_problem,
    load_scenarios,
    problem_from_scenario,
    test_problem,
    validation_problem,
)
from envs.suites import suite_scenarios
from envs.world import GridMap

HEADER = ",".join(SCENARIO_COLUMNS)


@pytest.fixture()
def maps_dir(tmp_path: Path) -> Path:
    """A folder holding a generated 20 x 20 map called boxes (wall border, cell (1, 1) free)."""
    d = tmp_path / "maps"
    d.mkdir()
    rooms(20, 20, seed=0).to_csv(d / "boxes.csv")
    return d


@pytest.mark.requires_data
def test_the_paper_scenarios_load():
    test = load_scenarios(suite_scenarios("ditree_car", "test"))
    val = load_scenarios(suite_scenarios("ditree_car", "validation"))
    assert len(test) == 15 and len(val) == 3
    assert len({s.name for s in test}) == 15
    assert {s.map_name for s in test} == {
        "Race_Track", "random_xlarge", "narrow_short", "boxes", "shapes", "random_large", "random_huge",
    }  # fmt: skip
    assert [s.name for s in val] == ["val_maze_small", "val_maze_large", "val_maze_xlarge"]
    boxes = next(s for s in test if s.name == "boxes")
    assert (boxes.start_row, boxes.start_col, boxes.start_deg, boxes.goal_row, boxes.goal_col) == (17, 2, 45.0, 2, 17)


@pytest.mark.requires_data
@pytest.mark.parametrize("split", ["test", "validation"])
def test_scenario_problems_start_at_rest_at_the_cell_centre(split):
    for scenario in load_scenarios(suite_scenarios("ditree_car", split)):
        check_scenario_problem(scenario)
        assert (test_problem if split == "test" else validation_problem)(scenario.name).meta["suite"] == "ditree_car"


def check_scenario_problem(scenario):
    p = problem_from_scenario(scenario)
    w = p.world
    assert w.name == scenario.map_name
    np.testing.assert_allclose(p.start[:2], w.cell_to_xy(scenario.start_row, scenario.start_col))
    np.testing.assert_array_equal(p.start[3:], [0.0, 0.0, 0.0])
    expected_yaw = math.remainder(math.radians(scenario.start_deg), 2 * math.pi)
    assert math.isclose(math.cos(p.start[2]), math.cos(expected_yaw), abs_tol=1e-12)
    assert math.isclose(math.sin(p.start[2]), math.sin(expected_yaw), abs_tol=1e-12)
    assert -math.pi <= p.start[2] < math.pi
    np.testing.assert_allclose(p.goal, w.cell_to_xy(scenario.goal_row, scenario.goal_col))
    assert p.start_cell == (scenario.start_row, scenario.start_col)
    assert p.goal_cell == (scenario.goal_row, scenario.goal_col)
    assert p.goal_radius == 0.5 and p.name == scenario.name


@pytest.mark.requires_data
def test_headings_follow_the_spec():
    # 0 = +x, 90 = +y (towards row 0), 270 = -y
    assert test_problem("narrow").start[2] == 0.0  # start_deg 0
    race = test_problem("Race Track")  # start_deg 270
    assert math.isclose(race.start[2], -math.pi / 2)
    hm = test_problem("random huge medium")  # start_deg 90
    assert math.isclose(hm.start[2], math.pi / 2)
    assert math.isclose(test_problem("random large3").start[2], -math.pi)  # 180 wraps to -pi
    v = validation_problem("val_maze_xlarge")
    assert math.isclose(v.start[2], -math.pi / 2)


@pytest.mark.requires_data
def test_unknown_scenario_name_lists_the_known_ones():
    with pytest.raises(ScenarioError) as e:
        test_problem("nope")
    assert "nope" in str(e.value) and "boxes2" in str(e.value) and "suite ditree_car (test)" in str(e.value)


# ---------------------------------------------------------------- bad scenario files
def scenario_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "scenarios.csv"
    path.write_text("\n".join((HEADER, *rows)) + "\n")
    return path


def test_non_numeric_field_names_file_line_and_column(tmp_path: Path):
    path = scenario_file(tmp_path, "a,boxes,17,2,45,2,17", "b,boxes,12,eight,0,2,17")
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    assert f"{path}:3" in str(e.value) and "start_col" in str(e.value) and "'eight'" in str(e.value)
    path = scenario_file(tmp_path, "a,boxes,17,2,north,2,17")
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    assert f"{path}:2" in str(e.value) and "start_deg" in str(e.value)


def test_header_only_names_the_file(tmp_path: Path):
    path = scenario_file(tmp_path)
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    assert str(path) in str(e.value) and "only a header" in str(e.value)


def test_missing_column_and_missing_file(tmp_path: Path):
    path = tmp_path / "cols.csv"
    path.write_text("scenario_name,maze_name,start_row\nx,boxes,1\n")
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    assert f"{path}:1" in str(e.value) and "start_col" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        load_scenarios(tmp_path / "absent.csv")
    assert "absent.csv" in str(e.value)


@pytest.mark.parametrize(
    "row, what, cell",
    [
        ("s,boxes,20,2,0,2,17", "start", "(row 20, col 2)"),  # boxes is 20 x 20
        ("s,boxes,1,1,0,2,-1", "goal", "(row 2, col -1)"),
    ],
)
def test_start_or_goal_outside_the_map(tmp_path: Path, maps_dir: Path, row, what, cell):
    path = scenario_file(tmp_path, row)
    with pytest.raises(ScenarioError) as e:
        load_problem(path, "s", maps_dir)
    msg = str(e.value)
    assert f"{what} cell {cell}" in msg and "outside" in msg and str(maps_dir / "boxes.csv") in msg


@pytest.mark.parametrize(
    "row, what, cell",
    [
        ("s,boxes,0,5,0,2,17", "start", "(row 0, col 5)"),  # the border is wall
        ("s,boxes,1,1,0,19,19", "goal", "(row 19, col 19)"),
    ],
)
def test_start_or_goal_inside_a_wall(tmp_path: Path, maps_dir: Path, row, what, cell):
    path = scenario_file(tmp_path, row)
    with pytest.raises(ScenarioError) as e:
        load_problem(path, "s", maps_dir)
    msg = str(e.value)
    assert f"{what} cell {cell}" in msg and "wall" in msg and str(maps_dir / "boxes.csv") in msg


def test_missing_map_of_a_scenario_names_the_map_file(tmp_path: Path):
    path = scenario_file(tmp_path, "s,no_such_map,1,1,0,2,2")
    with pytest.raises(DitreeInputError) as e:
        load_problem(path, "s", tmp_path)
    assert str(tmp_path / "no_such_map.csv") in str(e.value)


def test_problem_validates_poses_directly():
    w = GridMap(np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]], dtype=np.uint8), name="tiny")
    robot_free = w.cell_to_xy(1, 1)
    p = Problem.from_cells(w, (1, 1), 0.0, (1, 2))
    assert p.meta["start_cell"] == [1, 1]
    with pytest.raises(ScenarioError, match="start pose"):  # a 45 deg car at the edge of the free cell
        Problem(p.robot, w, [robot_free[0] - 0.4, robot_free[1], 0.8, 0, 0, 0], p.goal)
    with pytest.raises(ScenarioError, match="goal"):
        Problem(p.robot, w, p.start, [0.0, 5.0])
    with pytest.raises(ValueError, match="goal_radius"):
        Problem(p.robot, w, p.start, p.goal, goal_radius=0.0)


def test_problem_with_a_state_goal():
    from dataclasses import replace

    from envs.goal import DiscGoal, StateGoal

    p = validation_problem("val_maze_small")
    assert isinstance(p.goal_region, DiscGoal) and p.goal_region.radius == p.goal_radius == 0.5
    np.testing.assert_array_equal(p.goal_region.position, p.goal)
    g = StateGoal.for_robot(p.robot, p.robot.rest_state(*p.goal, math.pi / 2), 0.4)
    q = p.with_goal(g)
    assert q.goal_region is g and q.name == p.name and q.meta["goal_cell"] == p.meta["goal_cell"]
    np.testing.assert_array_equal(q.goal, p.goal)  # goal stays the goal position
    assert q.goal_radius == pytest.approx(0.4)  # every goal state lies within tolerance / w0 of it
    assert p.goal_region.kind == "disc"  # the original is untouched
    # the constructor takes the region as goal; replace keeps it
    assert Problem(p.robot, p.world, p.start, g, name="direct").goal_region is g
    r = replace(q, start=p.robot.rest_state(*p.start[:2], 0.0))
    assert r.goal_region is g
    with pytest.raises(ValueError, match="not the position of the state goal"):
        replace(q, goal=[1.0, 1.0])
    # a disc problem: goal and goal_radius define the disc, also through replace
    d = replace(p, goal_radius=1.0)
    assert isinstance(d.goal_region, DiscGoal) and d.goal_region.radius == 1.0 and d.goal_radius == 1.0
    # back to a disc elsewhere: the scenario's goal cell no longer holds
    e = q.with_goal(DiscGoal(p.world.cell_to_xy(*p.start_cell), 0.5))
    assert "goal_cell" not in e.meta and e.goal_cell == p.start_cell


def test_problem_validates_a_state_goal():
    from envs.goal import StateGoal

    p = validation_problem("val_maze_small")
    car = p.robot
    with pytest.raises(ScenarioError, match="val_maze_small: the goal state must have the car's 6 entries"):
        p.with_goal(StateGoal([*p.goal, 0.0, 0.0], 0.5, (1.0, 0.5, 0.0)))
    with pytest.raises(ScenarioError, match=r"val_maze_small: goal state yaw = 4 rad is not in \[-pi, pi\]"):
        p.with_goal(StateGoal.for_robot(car, [*p.goal, 4.0, 0.0, 0.0, 0.0], 0.5))
    with pytest.raises(ScenarioError, match="angle indices"):
        p.with_goal(StateGoal([*p.goal, 0.0, 0.0, 0.0, 0.0], 0.5, car.distance_weights, (2, 5)))
    # the footprint at the goal pose touches a wall although its centre is free (45 deg at a cell's edge)
    free = p.world.cell_to_xy(*p.goal_cell)
    near_wall = None
    for dx, dy in ((0.4, 0.0), (-0.4, 0.0), (0.0, 0.4), (0.0, -0.4)):
        x = car.rest_state(free[0] + dx, free[1] + dy, math.pi / 4)
        if p.world.is_free_point(x[:2])[()] and p.world.is_wall_cell(*p.world.xy_to_cell(x[:2] + [dx, dy])):
            near_wall = x
            break
    assert near_wall is not None
    with pytest.raises(ScenarioError, match="val_maze_small: the goal pose .* is in collision"):
        p.with_goal(StateGoal.for_robot(car, near_wall, 0.5))
    with pytest.raises(ScenarioError, match="lies in a wall"):
        p.with_goal(StateGoal.for_robot(car, car.rest_state(*p.world.cell_to_xy(0, 0), 0.0), 0.5))
