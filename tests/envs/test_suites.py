"""Benchmark suites and the data directory: resolution order, one-line errors, suite addressing."""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.errors import DataDirError, DitreeInputError
from envs.problem import suite_problem
from envs.suites import (
    DATA_ENV,
    SUITES,
    default_data_dir,
    has_suite,
    resolve_data_dir,
    suite_dir,
    suite_instances,
    suite_map,
    suite_scenarios,
)


@pytest.fixture()
def fake_data(tmp_path: Path) -> Path:
    """A data directory with an (incomplete) ditree_car suite: one map, one scenario file."""
    root = tmp_path / "data"
    (root / "ditree_car" / "maps").mkdir(parents=True)
    (root / "ditree_car" / "maps" / "m.csv").write_text("1,1,1\n1,0,1\n1,1,1\n")
    (root / "ditree_car" / "test_scenarios.csv").write_text(
        "scenario_name,maze_name,start_row,start_col,start_deg,goal_row,goal_col\nonly,m,1,1,0,1,1\n"
    )
    return root


def test_resolution_order_flag_then_environment_then_default(fake_data, tmp_path, monkeypatch):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(DATA_ENV, str(other))
    assert resolve_data_dir(fake_data) == fake_data  # the flag wins over the variable
    assert resolve_data_dir() == other  # then the variable
    monkeypatch.delenv(DATA_ENV)
    assert default_data_dir() == Path(__import__("envs").__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    if default_data_dir().is_dir():
        assert resolve_data_dir() == default_data_dir()
    else:
        with pytest.raises(DataDirError, match=f"no benchmark data directory.*set {DATA_ENV}=.*or pass --data-dir"):
            resolve_data_dir()


def test_missing_directory_and_suite_errors_say_what_to_set(fake_data, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "absent"))
    with pytest.raises(DataDirError) as e:
        suite_dir("ditree_car")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "absent") in msg and f"${DATA_ENV}" in msg
    assert f"set {DATA_ENV}=" in msg and "--data-dir" in msg
    assert not has_suite("ditree_car")
    with pytest.raises(DataDirError, match=r"suite 'dynobench' not found: no folder .*set DITREE_DATA"):
        suite_dir("dynobench", fake_data)
    with pytest.raises(DataDirError, match=r"unknown benchmark suite 'nope'; known: \['ditree_car', 'dynobench'\]"):
        suite_dir("nope", fake_data)
    with pytest.raises(DataDirError, match=r"has no split 'train'; known: \['test', 'validation'\]"):
        suite_scenarios("ditree_car", "train", fake_data)
    with pytest.raises(DataDirError, match="validation_scenarios.csv is missing"):
        suite_scenarios("ditree_car", "validation", fake_data)
    with pytest.raises(DataDirError, match=r"has no map 'boxes'; known: \['m'\]"):
        suite_map("ditree_car", "boxes", fake_data)
    assert issubclass(DataDirError, DitreeInputError)


def test_a_scenario_is_addressed_by_suite_and_name(fake_data):
    p = suite_problem("only", "ditree_car", split="test", data_dir=fake_data)
    assert p.meta["suite"] == "ditree_car" and p.world.name == "m" and p.start_cell == (1, 1)
    assert p.world.source == str(fake_data / "ditree_car" / "maps" / "m.csv")


@pytest.mark.requires_data("ditree_car", "dynobench")
def test_the_real_suites_are_found():
    assert suite_scenarios("ditree_car").name == "test_scenarios.csv"
    assert suite_problem("val_maze_small").meta["suite"] == "ditree_car"  # any split when none is given
    rows = suite_instances("dynobench")
    assert len(rows) == 11 and {"robot", "instance", "start", "goal"} <= set(rows[0])
    assert set(SUITES) == {"ditree_car", "dynobench"}
