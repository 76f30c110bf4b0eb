"""scripts/bench_generated.py: held-out seeds, a tiny real run in fresh processes, its table and resume."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_generated.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_generated", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_held_out_seeds_are_deterministic_and_lie_in_their_own_range():
    bg = _load()
    seeds = [bg.heldout_seed(i) for i in range(200)]
    assert seeds == [bg.heldout_seed(i) for i in range(200)] and len(set(seeds)) == 200
    assert all(bg.HELD_OUT_BASE <= s < 2 * bg.HELD_OUT_BASE for s in seeds)
    assert bg.heldout_seed(0, base_seed=1) != seeds[0]


def test_a_tiny_run_writes_records_a_table_and_resumes(tmp_path, capsys):
    bg = _load()
    args = ["--robot", "car", "--worlds", "grid", "--kinds", "forest", "--rows", "9", "--problems", "2",
            "--planners", "rrt,sst", "--time-limit", "5", "--out", str(tmp_path)]
    assert bg.main(args) == 0
    records = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["planner"] for r in records} == {"rrt", "sst"}
    assert all(r["robot"] == "car" and r["scenario"].startswith("grid-forest-") for r in records)
    table = (tmp_path / "table.md").read_text()
    for r in records:
        if r["success"]:
            assert r["first_time_s"] <= r["time_s"] + 1e-9 and np.isfinite(r["cost_history"][0][1])
    assert "| rrt | " in table and "| sst | " in table
    capsys.readouterr()
    assert bg.main(args) == 0  # everything already done: nothing runs again
    assert "0 runs to do (4 already" in capsys.readouterr().out
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4


def test_goal_tol_tightens_the_box_problems_goal_and_is_refused_for_disc_goals():
    """``--goal-tol 0.03`` plans the same generated box problems with dynobench's tolerance (to tune on
    generated problems, never on its instances); grid worlds (goal discs) refuse it, naming the flag."""
    import pytest

    from envs.errors import DitreeInputError

    bg = _load()
    base = ["--robot", "unicycle1_v0", "--kinds", "open", "--problems", "2", "--planners", "sst"]
    loose = bg.build_runs(bg.parse_args(base))
    tight = bg.build_runs(bg.parse_args(base + ["--goal-tol", "0.03"]))
    assert [r.scenario for r in loose] == [r.scenario for r in tight]
    for a, b in zip(loose, tight):
        assert b.problem.goal_region.tolerance == 0.03 != a.problem.goal_region.tolerance
        assert np.array_equal(a.problem.goal_region.state, b.problem.goal_region.state)
        assert np.array_equal(a.problem.start, b.problem.start)
    with pytest.raises(DitreeInputError, match="--goal-tol"):
        bg.parse_args(["--robot", "car", "--goal-tol", "0.03"])
    with pytest.raises(DitreeInputError, match="--goal-tol"):
        bg.parse_args(base + ["--goal-tol", "0"])
