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
