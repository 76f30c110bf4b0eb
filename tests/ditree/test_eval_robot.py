"""``ditree eval --robot racecar``: real rrt runs of the PyBullet racecar in worker processes on a
tiny map at 2 m per cell, the robot recorded in runs.jsonl and eval_config.json, resume keyed by
robot (car and racecar runs share one output folder), and learned planners refused up front for a
robot their checkpoint was not trained for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ditree.cli import main
from ditree.eval import load_records
from ditree.eval.records import is_valid_record, record_key
from ditree.eval.spec import run_key
from ditree.policy import shipped_checkpoint

# an L-shaped corridor two cells wide; the racecar loads it at 2 m per cell, the car at 1 m
MAP = """1,1,1,1,1,1
1,0,0,0,0,1
1,0,0,0,0,1
1,1,1,0,0,1
1,1,1,0,0,1
1,1,1,1,1,1
"""
SCENARIOS = "scenario_name,maze_name,start_row,start_col,start_deg,goal_row,goal_col\nell,ell,1,1,0,4,3\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("eval_robot")
    maps = tmp / "maps"
    maps.mkdir()
    (maps / "ell.csv").write_text(MAP)
    scen = tmp / "scenarios.csv"
    scen.write_text(SCENARIOS)
    return scen, maps


def _argv(files, out: Path, robot: str | None, planners: str = "rrt") -> list[str]:
    scen, maps = files
    argv = ["eval", "--scenarios", str(scen), "--maps", str(maps), "--planners", planners, "--trials", "1",
            "--time-limit", "60", "--out", str(out), "--workers", "1", "--no-progress"]
    return argv + (["--robot", robot] if robot else [])


@pytest.fixture(scope="module")
def evaluated(files, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval_robot_out") / "out"
    assert main(_argv(files, out, "racecar")) == 0
    return out


def test_records_carry_the_racecar(evaluated):
    recs = load_records(evaluated / "runs.jsonl")
    assert len(recs) == 1
    rec = recs[0]
    assert is_valid_record(rec) and rec["robot"] == "racecar" and rec["planner"] == "rrt"
    assert rec["status"] != "crash", rec["reason"]
    assert rec["success"] and rec["validated"], rec["reason"]
    result = json.loads((evaluated / rec["result_file"]).read_text())
    assert result["robot"] == "racecar"
    assert "racecar" in rec["result_file"]
    cfg = json.loads((evaluated / "eval_config.json").read_text())
    assert cfg["robot"] == "racecar"
    assert "robot racecar" in (evaluated / "summary.md").read_text()


def test_resume_is_keyed_by_robot(files, evaluated, capsys):
    before = (evaluated / "runs.jsonl").read_text()
    capsys.readouterr()
    assert main(_argv(files, evaluated, "racecar")) == 0
    assert "1 runs: 0 run now, 1 already in" in capsys.readouterr().out
    assert (evaluated / "runs.jsonl").read_text() == before
    # the car in the same folder: same scenario, planner, trial and seed, but a different run
    assert main(_argv(files, evaluated, None)) == 0
    assert "1 runs: 1 run now, 0 already in" in capsys.readouterr().out
    recs = load_records(evaluated / "runs.jsonl")
    assert sorted(r["robot"] for r in recs) == ["car", "racecar"]
    assert len({record_key(r) for r in recs}) == 2
    assert main(_argv(files, evaluated, "car")) == 0
    assert "1 runs: 0 run now, 1 already in" in capsys.readouterr().out


def test_old_car_records_without_robot_still_resume(tmp_path):
    rec = {"scenario": "ell", "planner": "rrt", "trial": 0, "seed": 5, "time_limit": 60.0, "success": True,
           "time_s": 1.0, "path_length_m": 1.0, "path_duration_s": 1.0, "duration_ratio": None, "nodes": 3,
           "iterations": 1, "policy_calls": 0, "validated": True, "reason": "", "status": "exact",
           "memory_mb": None, "result_file": None, "map": "ell"}
    assert is_valid_record(rec)
    assert record_key(rec) == run_key("ell", "rrt", 0, 5, 60.0) == ("ell", "rrt", 0, 5, 60.0)
    assert record_key({**rec, "robot": "racecar"}) != record_key(rec)
    assert not is_valid_record({**rec, "robot": 3})


@pytest.mark.parametrize("planner", ["dp", "ditree"])
def test_learned_planner_for_another_robot_fails_fast(files, tmp_path, capsys, planner):
    out = tmp_path / "out"
    car_checkpoint = f"{planner}:checkpoint={shipped_checkpoint('car')}.pt"
    assert main(_argv(files, out, "racecar", planners=f"rrt,{planner}") + ["--param", car_checkpoint]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert planner in err and "trained for robot 'car'" in err and "racecar" in err
    assert not (out / "runs.jsonl").exists()
