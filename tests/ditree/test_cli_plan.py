"""``ditree plan`` end to end, in process."""

import json

import pytest

from ditree.cli import main
from envs.problem import MAPS_DIR, VALIDATION_SCENARIOS
from planners.results import PlanResult


def test_plan_scenario_row_writes_json_and_png(tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["plan", "--scenarios", str(VALIDATION_SCENARIOS), "--scenario", "val_maze_small", "--planner", "rrt",
               "--time-limit", "30", "--seed", "1", "--param", "batch_size=32", "--json", str(out_json),
               "--plot", str(out_png)])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("rrt val_maze_small: solved in") and "validated=True" in line
    res = PlanResult.from_json(out_json)
    assert res.success and res.validated and res.seed == 1 and res.extra["params"]["batch_size"] == 32
    assert json.loads(out_json.read_text())["tree"]["edges"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000


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
        (["--map", str(MAPS_DIR / "val_maze_7.csv"), "--start", "0,0,0", "--goal", "5,3"], "is a wall"),
        (["--map", str(MAPS_DIR / "val_maze_7.csv"), "--start", "1,1", "--goal", "5,3"], "--start"),
        (["--map", str(MAPS_DIR / "val_maze_7.csv"), "--start", "1,1,0", "--goal", "5,3", "--planner", "nope"],
         "unknown planner 'nope'"),
        (["--map", str(MAPS_DIR / "val_maze_7.csv"), "--start", "1,1,0", "--goal", "5,3", "--param", "batch=3"],
         "no such parameter"),
        (["--scenarios", str(VALIDATION_SCENARIOS), "--scenario", "missing"], "no scenario named 'missing'"),
        (["--start", "1,1,0"], "need --map"),
    ],
)
def test_bad_input_gives_exit_2_and_one_line(args, message, capsys):
    rc = main(["plan", *args, "--time-limit", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err, err
