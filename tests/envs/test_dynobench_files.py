"""dynobench's file formats (envs/dynobench.py): the suite's instances and reference solutions read,
solutions written and read back, and bad input as one-line errors naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from envs.dynobench import load_instance, load_solution, write_solution
from envs.dynobench_check import check_files
from envs.errors import DitreeInputError, DynobenchFormatError
from envs.registry import make_robot, registered_robots
from envs.suites import has_suite, suite_dir
from planners.results import PlanResult

GOOD = """\
name: tiny
environment:
  min: [0, 0]
  max: [4, 3]
  obstacles:
    - type: box
      center: [2.0, 1.5]
      size: [0.4, 1.0]
    - type: sphere
      center: [3.0, 0.5]
      size: [0.2]
robots:
  - type: unicycle2_v0
    start: [0.5, 1.5, 0, 0, 0]
    goal: [3.5, 1.5, 0, 0, 0]
"""


def _instances() -> list[Path]:
    if not has_suite("dynobench"):
        return []
    return sorted((suite_dir("dynobench") / "envs").glob("*/*.yaml"))


def _bad(tmp_path: Path, text: str, name: str = "inst.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(DynobenchFormatError) as e:
        load_instance(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg, msg
    return msg


def test_an_instance_is_read_with_boxes_circles_start_and_goal(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(GOOD)
    inst = load_instance(p)
    assert (inst.name, inst.robot, inst.source) == ("tiny", "unicycle2_v0", str(p))
    np.testing.assert_array_equal(inst.boxes, [[2.0, 1.5, 0.4, 1.0]])
    np.testing.assert_array_equal(inst.circles, [[3.0, 0.5, 0.2]])
    np.testing.assert_array_equal(inst.start, [0.5, 1.5, 0, 0, 0])
    assert inst.env_min.tolist() == [0, 0] and inst.env_max.tolist() == [4, 3]
    assert inst.environment["obstacles"][1]["type"] == "sphere"  # the raw mapping, for BoxWorld
    assert inst.obstacle_fields == ("environment.obstacles[0]", "environment.obstacles[1]")


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace("environment:", "world:"), "missing field environment"),
    (lambda t: t.replace("  min: [0, 0]\n", ""), "missing field environment.min"),
    (lambda t: t.replace("    start: [0.5, 1.5, 0, 0, 0]\n", ""), "missing field robots[0].start"),
    (lambda t: t.replace("      center: [3.0, 0.5]\n", ""), "missing field environment.obstacles[1].center"),
    (lambda t: t.replace("robots:\n  - type: unicycle2_v0", "robots:\n  - type: quadrotor_v0"), "robots[0].type"),
    (lambda t: t.replace("[0.5, 1.5, 0, 0, 0]", "[0.5, 1.5, 0]"), "robots[0].start must have 5 numbers, got 3"),
    (lambda t: t.replace("[3.5, 1.5, 0, 0, 0]", "[3.5, 1.5, zero, 0, 0]"), "robots[0].goal holds a non-number"),
    (lambda t: t.replace("size: [0.4, 1.0]", "size: [0.4, -1.0]"), "environment.obstacles[0].size"),
    (lambda t: t.replace("type: sphere", "type: cone"), "environment.obstacles[1].type"),
    (lambda t: t.replace("[0.5, 1.5, 0, 0, 0]", "[2.0, 1.5, 0, 0, 0]"), "robots[0].start"),  # inside the box
    (lambda t: t.replace("[3.5, 1.5, 0, 0, 0]", "[3.0, 0.7, 0, 0, 0]"), "robots[0].goal"),  # touches the circle
    (lambda t: "", "empty instance file"),
    (lambda t: t[: t.index("goal:") + 12], "not valid YAML"),  # cut in the middle of a list
])
def test_bad_instances_are_one_line_errors_naming_file_and_field(tmp_path, edit, field):
    msg = _bad(tmp_path, edit(GOOD))
    assert field in msg, msg


def test_an_unknown_robot_lists_the_registered_ones(tmp_path):
    msg = _bad(tmp_path, GOOD.replace("type: unicycle2_v0", "type: quadrotor_v0"))
    assert "quadrotor_v0" in msg and all(r in msg for r in registered_robots())


def test_collisions_of_start_and_goal_name_the_obstacle(tmp_path):
    msg = _bad(tmp_path, GOOD.replace("[3.5, 1.5, 0, 0, 0]", "[3.0, 0.7, 0, 0, 0]"))
    assert "in collision with environment.obstacles[1]" in msg


def _solution_text(robot_name: str, n: int = 4) -> str:
    robot = make_robot(robot_name)
    x = robot.rollout(robot.rest_state(0.5, 1.5, 0.0)[None], np.tile(robot.control_high * 0.5, (1, n, 1)))[0]
    u = np.tile(robot.control_high * 0.5, (n, 1))
    rows = lambda a: "".join(f"  - [{', '.join(repr(float(v)) for v in r)}]\n" for r in a)
    return f"cost: {n * 0.1}\nnum_states: {n + 1}\nstates:\n{rows(x)}num_actions: {n}\nactions:\n{rows(u)}"


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace("\nstates:", "\nstats:"), "missing field states"),
    (lambda t: re.sub(r"(states:\n  - \[[^,]+, [^,]+), [^\]]+\]", r"\1]", t), "states[0] must have 5 numbers"),
    (lambda t: t.replace("num_actions: 4", "num_actions: 5"), "num_actions is 5 but actions has 4 rows"),
    (lambda t: t[: t.index("num_actions")], "missing field actions"),  # truncated after the states
    (lambda t: t[: t.index("actions:\n") + 30], "truncated file?"),  # truncated inside a row
    (lambda t: t.replace("cost: 0.4", "cost: cheap"), "cost must be a number"),
    (lambda t: t.replace("num_states: 5\n", "").replace("num_actions: 4\n", "")
     + "  - [0.1, 0.0]\n", "5 states need 4 actions, got 5"),
    (lambda t: "   \n", "empty solution file"),
])
def test_bad_solutions_are_one_line_errors_naming_file_and_field(tmp_path, edit, field):
    p = tmp_path / "sol.yaml"
    p.write_text(edit(_solution_text("unicycle2_v0")))
    with pytest.raises(DynobenchFormatError) as e:
        load_solution(p, make_robot("unicycle2_v0"))
    assert field in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value), str(e.value)


@pytest.mark.requires_data("dynobench")
def test_every_suite_instance_and_reference_solution_is_read():
    files = _instances()
    assert len(files) == 11
    for f in files:
        inst = load_instance(f)
        assert inst.robot == f.parent.name and len(inst.boxes) >= 1 and len(inst.circles) == 0
        sol = load_solution(f.with_suffix("") / "idbastar_v0_solution_v0.yaml", make_robot(inst.robot))
        assert sol.feasible is True and sol.cost == pytest.approx(len(sol.actions) * 0.1)
        assert sol.states.shape == (sol.header["num_states"], len(inst.start))


@pytest.mark.requires_data("dynobench")
@pytest.mark.parametrize("robot", ["unicycle1_v0", "unicycle2_v0", "car1_v0"])
def test_write_then_load_solution_round_trips_exactly(tmp_path, robot):
    inst_path = suite_dir("dynobench") / "envs" / robot / "kink_0.yaml"
    inst = load_instance(inst_path)
    ref = load_solution(inst_path.with_suffix("") / "idbastar_v0_solution_v0.yaml")
    out = write_solution(tmp_path / "sol.yaml", robot, ref.states, ref.actions, instance=inst)
    back = load_solution(out, make_robot(robot))
    np.testing.assert_array_equal(back.states, ref.states)
    np.testing.assert_array_equal(back.actions, ref.actions)
    assert back.cost == pytest.approx(ref.cost) and back.feasible is True
    assert all(back.header[k] == 1 for k in ("traj_feas", "goal_feas", "start_feas", "col_feas", "x_bounds_feas",
                                               "u_bounds_feas"))
    assert back.header["goal_distance"] == pytest.approx(ref.header["goal_distance"], abs=2e-5)  # the files round to 6 digits
    assert back.header["start"] == inst.start.tolist() and back.header["num_actions"] == len(ref.actions)
    # without an instance: no feasibility fields, the same path
    bare = load_solution(write_solution(tmp_path / "bare.yaml", robot, ref.states, ref.actions), make_robot(robot))
    assert bare.feasible is None and np.array_equal(bare.states, ref.states)


def test_saturated_steps_are_written_with_the_controls_dynobench_needs(tmp_path):
    robot = make_robot("unicycle2_v0")
    x0 = np.array([[0.5, 1.5, 0.0, 0.5, -0.5]])
    u = np.tile([[0.25, -0.25]], (1, 4, 1))  # at the bounds and pushing on: v and w saturate at every step
    xs = robot.rollout(x0, u)[0]
    p = tmp_path / "tiny.yaml"
    p.write_text(GOOD.replace("[0.5, 1.5, 0, 0, 0]", "[0.5, 1.5, 0, 0.5, -0.5]")
                 .replace("[3.5, 1.5, 0, 0, 0]", "[" + ", ".join(map(repr, xs[-1].tolist())) + "]"))
    inst = load_instance(p)
    written = load_solution(write_solution(tmp_path / "sol.yaml", robot.name, xs, u[0], instance=inst), robot)
    assert written.feasible is True
    np.testing.assert_array_equal(written.actions, np.zeros((4, 2)))  # what keeps v, w at the bounds
    assert check_files(tmp_path / "sol.yaml", p).max_jump < 1e-12
    # the raw controls would fail dynobench's one-step test: both saturations at once cost 2 * 0.25 * 0.025
    raw = tmp_path / "raw.yaml"
    raw.write_text(_solution_text("unicycle2_v0").split("num_states")[0] + "num_states: 5\nstates:\n"
                   + "".join(f"  - {xs_i.tolist()}\n" for xs_i in xs) + "actions:\n"
                   + "".join(f"  - {u_i.tolist()}\n" for u_i in u[0]))
    rep = check_files(raw, p)
    assert not rep.tests["dynamics"] and rep.max_jump == pytest.approx(0.0125) and rep.jump_step == 0


@pytest.mark.requires_data("dynobench")
def test_plan_result_to_dynobench_writes_a_checked_solution(tmp_path):
    inst_path = suite_dir("dynobench") / "envs" / "car1_v0" / "parallelpark_0.yaml"
    ref = load_solution(inst_path.with_suffix("") / "idbastar_v0_solution_v0.yaml")
    res = PlanResult(success=True, planner="rrt", seed=3, time_s=1.5, dt=0.1, states=ref.states, controls=ref.actions,
                     robot="car1_v0", validated=True)
    out = res.to_dynobench(tmp_path / "res.yaml", instance=load_instance(inst_path))
    back = load_solution(out)
    assert back.feasible is True and "planner=rrt" in back.header["info"]
    assert check_files(out, inst_path, goal_tol=0.01).accepted
    failed = PlanResult(success=False, planner="rrt", seed=3, time_s=1.5, dt=0.1, robot="car1_v0", reason="timeout",
                        states=np.zeros((0, 4)), controls=np.zeros((0, 2)))
    with pytest.raises(DitreeInputError, match="no path"):
        failed.to_dynobench(tmp_path / "none.yaml")
