"""``ditree plan`` end to end, in process."""

import json

import pytest

from ditree.cli import main
from envs.generators import maze
from envs.suites import DATA_ENV, suite_scenarios
from planners.results import PlanResult

MAZE = "<generated maze>"


@pytest.fixture(scope="module")
def maze_csv(tmp_path_factory):
    """A generated 9 x 9 maze (cell (0, 0) is wall, (1, 1) free) as a map CSV."""
    path = tmp_path_factory.mktemp("maps") / "maze.csv"
    maze(9, 9, seed=0).to_csv(path)
    return str(path)


@pytest.mark.requires_data
def test_plan_suite_scenario_writes_json_and_png(tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["plan", "--suite", "ditree_car", "--scenario", "val_maze_small", "--planner", "rrt",
               "--time-limit", "30", "--seed", "1", "--param", "batch_size=32", "--json", str(out_json),
               "--plot", str(out_png)])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("rrt val_maze_small: solved in") and "validated=True" in line
    res = PlanResult.from_json(out_json)
    assert res.success and res.validated and res.seed == 1 and res.extra["params"]["batch_size"] == 32
    assert res.suite == "ditree_car" and res.scenario == "val_maze_small" and res.map == "val_maze_7"
    d = json.loads(out_json.read_text())
    assert d["tree"]["edges"] and d["suite"] == "ditree_car"
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000


@pytest.mark.requires_data
def test_suite_scenario_equals_the_same_row_of_its_file_and_suite_maps_by_name(tmp_path, capsys):
    """--suite/--scenario, --scenarios/--scenario and --suite/--map give the same seeded plan."""
    common = ["--planner", "rrt", "--time-limit", "30", "--seed", "2"]
    runs = {
        "suite": ["--suite", "ditree_car", "--scenario", "val_maze_small"],
        "file": ["--scenarios", str(suite_scenarios("ditree_car", "validation")), "--scenario", "val_maze_small"],
        "map": ["--suite", "ditree_car", "--map", "val_maze_7", "--start", "1,5,180", "--goal", "5,3"],
    }
    states = {}
    for k, args in runs.items():
        assert main(["plan", *args, *common, "--json", str(tmp_path / f"{k}.json")]) == 0
        states[k] = PlanResult.from_json(tmp_path / f"{k}.json").states
    assert (states["suite"] == states["file"]).all() and (states["suite"] == states["map"]).all()
    capsys.readouterr()


def test_a_missing_suite_is_one_line_saying_what_to_set(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "absent"))
    for argv in (["plan", "--scenario", "boxes"], ["eval", "--suite", "ditree_car", "--out", str(tmp_path / "o")],
                 ["plan", "--suite", "ditree_car", "--scenario", "boxes", "--data-dir", str(tmp_path / "nope")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"set {DATA_ENV}=" in err and "--data-dir" in err, err


def test_plan_map_and_cells_exit_zero_without_a_path(tmp_path, capsys):
    # the goal cell is free but walled in: no path, still exit status 0
    grid = ["1,1,1,1,1,1,1", "1,0,0,0,1,1,1", "1,0,0,0,1,0,1", "1,0,0,0,1,1,1", "1,1,1,1,1,1,1"]
    m = tmp_path / "walled.csv"
    m.write_text("\n".join(grid) + "\n")
    rc = main(["plan", "--map", str(m), "--start", "2,2,0", "--goal", "2,5", "--time-limit", "0.5"])
    assert rc == 0
    assert "no path after" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--map", "nowhere.csv", "--start", "1,1,0", "--goal", "5,3"], "not found"),
        (["--map", MAZE, "--start", "0,0,0", "--goal", "5,3"], "is a wall"),
        (["--map", MAZE, "--start", "1,1", "--goal", "5,3"], "--start"),
        (["--map", MAZE, "--start", "1,1,0", "--goal", "5,3", "--planner", "nope"],
         "unknown planner 'nope'"),
        (["--map", MAZE, "--start", "1,1,0", "--goal", "5,3", "--param", "batch=3"],
         "no such parameter"),
        (["--suite", "ditree_car", "--scenarios", "x.csv", "--scenario", "a"], "either --suite or --scenarios"),
        (["--start", "1,1,0"], "need --map"),
    ],
)
def test_bad_input_gives_exit_2_and_one_line(args, message, capsys, maze_csv):
    args = [maze_csv if a == MAZE else a for a in args]
    rc = main(["plan", *args, "--time-limit", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.requires_data
def test_plan_to_a_goal_state(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    rc = main(["plan", "--suite", "ditree_car", "--scenario", "val_maze_small", "--planner", "rrt",
               "--goal-state", "0,-2,1.5708", "--goal-tol", "0.5", "--seed", "1", "--time-limit", "60",
               "--json", str(out_json)])
    assert rc == 0
    assert "validated=True" in capsys.readouterr().out
    res = PlanResult.from_json(out_json)
    assert res.success and res.goal["kind"] == "state" and res.goal["tolerance"] == 0.5
    assert res.goal["state"] == pytest.approx([0.0, -2.0, 1.5708, 0.0, 0.0, 0.0]) and res.goal_distance <= 0.5
    # ditree plot redraws the recorded goal state
    out_png = tmp_path / "r.png"
    assert main(["plot", str(out_json), "--out", str(out_png)]) == 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_map_start_and_goal_state(tmp_path, capsys):
    m = tmp_path / "open.csv"
    m.write_text("\n".join(["1,1,1,1,1,1,1"] + ["1,0,0,0,0,0,1"] * 4 + ["1,1,1,1,1,1,1"]) + "\n")
    out_json = tmp_path / "r.json"
    # a full 6-entry state; default tolerance 0.5
    rc = main(["plan", "--map", str(m), "--start", "3,1,0", "--goal-state", "1,0.5,0,0,0,0", "--seed", "0",
               "--time-limit", "60", "--json", str(out_json)])
    assert rc == 0 and "validated=True" in capsys.readouterr().out
    res = PlanResult.from_json(out_json)
    assert res.goal["tolerance"] == 0.5 and res.goal["state"] == [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--goal-state", "1,2"], "--goal-state '1,2': expected 3 numbers (x, y, yaw: the car at rest) or 6"),
        (["--goal-state", "1,x,0"], "expected comma-separated numbers"),
        (["--goal-tol", "0.3"], "--goal-tol needs --goal-state"),
        (["--goal-state", "0,-2,0", "--goal-tol", "-1"], "--goal-tol must be positive"),
        (["--goal-state", "0,-2,4,0,0,0"], "goal state yaw = 4 rad is not in [-pi, pi]"),
        (["--goal-state", "0,-2,nan"], "StateGoal.state must be a finite state"),
    ],
)
@pytest.mark.requires_data
def test_bad_goal_state_gives_exit_2_and_one_line(args, message, capsys):
    rc = main(["plan", "--suite", "ditree_car", "--scenario", "val_maze_small", *args,
               "--time-limit", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err, err


def test_goal_and_goal_state_exclude_each_other(capsys, maze_csv):
    rc = main(["plan", "--map", maze_csv, "--start", "1,1,0", "--goal", "5,3",
               "--goal-state", "0,0,0", "--time-limit", "1"])
    assert rc == 2 and "either --goal or --goal-state" in capsys.readouterr().err
