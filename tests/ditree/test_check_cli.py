"""``ditree check solution.yaml --dynobench instance.yaml``: exit 0 accepted, 1 rejected, 2 bad input."""

from __future__ import annotations

import json

import pytest

from ditree.cli import main
from envs.suites import suite_dir

pytestmark = pytest.mark.requires_data("dynobench")


def _files(robot: str, instance: str):
    inst = suite_dir("dynobench") / "envs" / robot / f"{instance}.yaml"
    return inst.with_suffix("") / "idbastar_v0_solution_v0.yaml", inst


def test_a_reference_solution_is_accepted_with_a_line_per_test(capsys):
    sol, inst = _files("unicycle2_v0", "kink_0")
    assert main(["check", str(sol), "--dynobench", str(inst)]) == 0
    out = capsys.readouterr().out
    assert "ACCEPTED" in out and "unicycle2_v0" in out
    for test in ("start", "goal", "dynamics", "collision", "state_bounds", "control_bounds", "world_box", "between_states"):
        assert f"  {test}" in out


def test_the_goal_tolerance_of_the_published_runs_and_json(capsys):
    sol, inst = _files("car1_v0", "parallelpark_0")  # goal distance 0.0095
    assert main(["check", str(sol), "--dynobench", str(inst), "--goal-tol", "0.01", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["accepted"] and rep["goal_tol"] == 0.01 and 0.009 < rep["goal_distance"] < 0.01
    assert main(["check", str(sol), "--dynobench", str(inst), "--goal-tol", "0.009"]) == 1
    assert "REJECTED (goal)" in capsys.readouterr().out


def test_a_corrupted_solution_is_rejected_with_exit_1(tmp_path, capsys):
    sol, inst = _files("unicycle1_v0", "parallelpark_0")
    lines = sol.read_text().splitlines()
    i = lines.index("states:") + 10
    lines[i] = "  - [0.3,0.3,0]"  # the centre of the first parked car
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["check", str(bad), "--dynobench", str(inst)]) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out and "collision      FAIL" in out and "environment.obstacles[0]" in out


@pytest.mark.parametrize("make, field", [
    (lambda sol: "\n".join(sol.read_text().splitlines()[:30]), "num_states is 32 but states has"),  # cut after a row
    (lambda sol: sol.read_text()[:600], "truncated file?"),  # cut inside a row
    (lambda sol: sol.read_text().replace("states:\n  - [0.7,0.8,0]", "states:\n  - [0.7,0.8]"), "states[0] must have 3"),
    (lambda sol: "", "empty solution file"),
])
def test_bad_input_is_a_one_line_error_with_exit_2(tmp_path, capsys, make, field):
    sol, inst = _files("unicycle1_v0", "parallelpark_0")
    bad = tmp_path / "bad.yaml"
    bad.write_text(make(sol))
    assert main(["check", str(bad), "--dynobench", str(inst)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("ditree check: error:") and field in err and str(bad) in err, err


def test_an_instance_with_an_unknown_robot_and_a_missing_file_exit_2(tmp_path, capsys):
    sol, inst = _files("unicycle1_v0", "parallelpark_0")
    other = tmp_path / "inst.yaml"
    other.write_text(inst.read_text().replace("type: unicycle1_v0", "type: unicycle9"))
    assert main(["check", str(sol), "--dynobench", str(other)]) == 2
    assert "robots[0].type: unknown robot 'unicycle9'" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nope.yaml"), "--dynobench", str(inst)]) == 2
    assert "solution file not found" in capsys.readouterr().err
