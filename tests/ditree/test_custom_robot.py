"""A robot registered from outside the package (the README's examples/unicycle.py, imported by
tests/conftest.py) plans end to end with rrt, sst and OMPL, and its paths validate with PyBullet;
the CLI imports it with --robot-module and lists it; unknown names fail with one line."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ditree.api import plan
from ditree.cli import main
from envs.errors import DitreeInputError
from envs.problem import Problem
from envs.registry import make_robot, registered_robots, robot_spec
from envs.world import GridMap

ROOT = Path(__file__).resolve().parents[2]
# a wall across most of the room: the goal lies behind it
GRID = np.array([[1] * 8, [1, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 0, 0, 0, 1],
                 [1, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 1], [1] * 8])


@pytest.fixture(scope="module")
def problem() -> Problem:
    world = GridMap(GRID, cell_size=robot_spec("unicycle").map_cell_size, name="room")
    return Problem.from_cells(world, (1, 1), 0.0, (5, 1), robot=make_robot("unicycle"), name="room")


def test_readme_shows_the_example_file():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n# examples/unicycle.py\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks == [(ROOT / "examples" / "unicycle.py").read_text()]


def test_registered_from_outside_the_package():
    assert "unicycle" in registered_robots() and registered_robots()[:2] == ("car", "racecar")
    spec = robot_spec("unicycle")
    assert spec.robot_class.__module__ == "unicycle" and spec.checkpoint is None
    robot = make_robot("unicycle", {"dt": 0.05, "v_max": 1.0, "w_max": 0.5})
    assert robot.dt == 0.05 and robot.control_high.tolist() == [1.0, 0.5]


@pytest.mark.parametrize("planner", ["rrt", "sst", "ompl-kpiece"])
def test_plans_and_validates(problem, planner):
    r = plan(problem, planner=planner, time_limit=30.0, seed=0)
    assert r.success and r.validated, r.reason  # plan() re-checks every path with PyBullet
    assert r.robot == "unicycle" and r.states.shape == (len(r.controls) + 1, 3) and r.controls.shape[1] == 2
    again = problem.robot.rollout(problem.start[None], r.controls[None])[0]
    np.testing.assert_allclose(again, r.states, atol=1e-9)
    assert np.linalg.norm(r.states[-1, :2] - problem.goal) <= problem.goal_radius
    if planner == "rrt":  # same seed, same path
        np.testing.assert_array_equal(plan(problem, planner=planner, time_limit=30.0, seed=0).controls, r.controls)


def test_learned_planner_without_a_checkpoint_fails_clearly(problem):
    with pytest.raises(DitreeInputError, match="no checkpoint is shipped for robot 'unicycle'"):
        plan(problem, planner="ditree", time_limit=1.0, seed=0)


def _cli(*args: str, env_modules: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'examples'}"}
    env.pop("DITREE_ROBOT_MODULES", None)
    if env_modules:
        env["DITREE_ROBOT_MODULES"] = env_modules
    return subprocess.run([sys.executable, "-m", "ditree", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=120)


def test_cli_imports_a_robot_module_and_plans_with_it(tmp_path):
    m = tmp_path / "room.csv"
    m.write_text("\n".join(",".join(str(v) for v in row) for row in GRID) + "\n")
    out = _cli("--robot-module", "unicycle", "plan", "--robot", "unicycle", "--map", str(m), "--start", "1,1,0",
               "--goal", "5,1", "--planner", "rrt", "--time-limit", "20")
    assert out.returncode == 0, out.stderr
    assert "solved" in out.stdout and "validated=True" in out.stdout
    listed = _cli("robots", env_modules="unicycle")
    assert listed.returncode == 0 and "unicycle: first-order unicycle" in listed.stdout
    # without the module the name is unknown: one line naming the registered robots, exit status 2
    bad = _cli("plan", "--robot", "unicycle", "--map", str(m), "--start", "1,1,0", "--goal", "5,1")
    assert bad.returncode == 2
    builtin = [r for r in registered_robots() if r != "unicycle"]
    close = difflib.get_close_matches("unicycle", builtin, n=1)[0]  # one of dynobench's unicycles
    assert bad.stderr.strip().splitlines()[-1] == (
        f"ditree plan: error: unknown robot 'unicycle' (did you mean {close!r}?); registered robots: {', '.join(builtin)}")
    missing = _cli("--robot-module", "no_such_module", "robots")
    assert missing.returncode == 2 and "--robot-module no_such_module: cannot import it" in missing.stderr


def test_robots_command_lists_layouts(capsys):
    assert main(["robots"]) == 0
    out = capsys.readouterr().out
    assert "car: " in out and "racecar: " in out and "unicycle: " in out
    assert "x, y, yaw (angle), v, D, delta" in out and "dD [-10, 10], ddelta [-2, 2]" in out
    assert "checkpoint     car_d4rl_large_distilled" in out and "map cell size  2 m" in out
    assert "checkpoint     none" in out  # the unicycle ships none
    assert main(["robots", "--json"]) == 0
    import json

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    uni = next(r for r in rows if r["name"] == "unicycle")
    assert [s["name"] for s in uni["state"]] == ["x", "y", "yaw"] and uni["controls"][0]["bounds"] == [-0.5, 0.5]
    assert uni["dt"] == 0.1 and uni["footprint"] == [[0.5, 0.25]]


def test_unknown_robot_in_cli_plan_suggests_a_close_name(capsys):
    rc = main(["plan", "--robot", "racecr", "--scenarios", "x.csv", "--scenario", "s"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ditree plan: error: unknown robot 'racecr' (did you mean 'racecar'?); "
                   f"registered robots: {', '.join(registered_robots())}")


def test_collect_needs_a_registered_expert(tmp_path, capsys):
    m = tmp_path / "room.csv"
    m.write_text("\n".join(",".join(str(v) for v in row) for row in GRID) + "\n")
    rc = main(["collect", "--robot", "unicycle", "--map", str(m), "--episodes", "1", "--out", str(tmp_path / "x.npz")])
    assert rc == 2
    assert "robot 'unicycle' has no expert to collect with" in capsys.readouterr().err


def test_eval_runs_the_registered_robot(tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "room.csv").write_text("\n".join(",".join(str(v) for v in row) for row in GRID) + "\n")
    csv = tmp_path / "scenarios.csv"
    csv.write_text("scenario_name,maze_name,start_row,start_col,start_deg,goal_row,goal_col\nroom1,room,1,1,0,5,1\n")
    rc = main(["eval", "--robot", "unicycle", "--scenarios", str(csv), "--maps", str(maps), "--planners", "rrt",
               "--trials", "1", "--time-limit", "20", "--out", str(tmp_path / "out"), "--workers", "1", "--no-progress"])
    assert rc == 0
    import json

    (run,) = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert run["robot"] == "unicycle" and run["success"] and run["validated"]
