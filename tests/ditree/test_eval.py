"""``ditree eval``: real runs of real planners in worker processes, the files they leave, resume,
the OMPL benchmark database (cross-checked against OMPL's own log parser), and fail-fast errors."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from ditree.cli import main
from ditree.eval import RECORD_KEYS, SUMMARY_COLUMNS, EvalConfig, derive_seed, load_records, run_eval
from ditree.eval.records import RECORD_TYPES, is_valid_record
from envs.errors import DitreeInputError
from envs.suites import suite_maps_dir, suite_scenarios
from planners.results import PlanResult

pytestmark = pytest.mark.requires_data  # the paper's scenarios (ditree_car suite)

SCENARIOS = ("narrow", "random large2")
PLANNERS = ("rrt", "ompl-kpiece")


def _scenario_file(tmp: Path, names=SCENARIOS) -> Path:
    """Some test scenarios of the ditree_car suite as a scenario file of its own, with ``maps/`` beside it."""
    lines = suite_scenarios("ditree_car", "test").read_text().splitlines()
    keep = [lines[0]] + [l for l in lines[1:] if l.split(",")[0] in names]
    path = tmp / "scenarios.csv"
    path.write_text("\n".join(keep) + "\n")
    if not (tmp / "maps").exists():
        (tmp / "maps").symlink_to(suite_maps_dir("ditree_car"))
    return path


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluation through the CLI: 2 scenarios x 2 planners x 1 trial x 5 s, 2 workers."""
    tmp = tmp_path_factory.mktemp("eval")
    csv_path = _scenario_file(tmp)
    out = tmp / "out"
    argv = ["eval", "--scenarios", str(csv_path), "--planners", ",".join(PLANNERS), "--trials", "1",
            "--time-limit", "5", "--out", str(out), "--workers", "2", "--seed", "7", "--no-progress"]
    assert main(argv) == 0
    return argv, out


def test_runs_jsonl_schema(evaluated):
    _, out = evaluated
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert len(lines) == len(SCENARIOS) * len(PLANNERS)
    recs = [json.loads(l) for l in lines]
    assert {(r["scenario"], r["planner"]) for r in recs} == {(s, p) for s in SCENARIOS for p in PLANNERS}
    for r in recs:
        assert set(RECORD_KEYS) <= set(r)
        for k, types in RECORD_TYPES.items():
            assert isinstance(r[k], types), (k, r[k])
        assert is_valid_record(r)
        assert r["trial"] == 0 and r["time_limit"] == 5.0
        assert r["seed"] == derive_seed(7, r["scenario"], r["planner"], 0)
        assert 0 <= r["time_s"] < 5.0 + 5.0
        assert r["status"] in ("exact", "timeout", "failed", "crash")
        assert not r["reason"].startswith(("error", "crash")), r["reason"]
        assert r["lower_bound_s"] > 0
        if r["success"]:
            assert r["validated"] and r["path_length_m"] > 0 and r["path_duration_s"] > 0 and r["status"] == "exact"
            assert r["duration_ratio"] >= 1.0
            # one-shot planners: their one path, at their solve time
            assert r["cost_history"] == [[r["time_s"], r["path_duration_s"]]] and r["first_time_s"] == r["time_s"]
        else:
            assert r["path_length_m"] is None and r["reason"]
    assert any(r["success"] for r in recs)  # both are easy; under heavy load a 5 s run may still time out


def test_results_json_match_records(evaluated):
    _, out = evaluated
    for r in load_records(out / "runs.jsonl"):
        assert r["result_file"] is not None  # every run that returned a PlanResult saved it
        res = PlanResult.from_json(out / r["result_file"])
        assert (res.planner, res.seed, res.scenario, res.success) == (r["planner"], r["seed"], r["scenario"], r["success"])
        assert res.time_s == pytest.approx(r["time_s"])
        if r["success"]:
            assert res.path_length_m == pytest.approx(r["path_length_m"])
            assert len(res.states) == len(res.controls) + 1 > 1


def test_summary_files(evaluated):
    _, out = evaluated
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert len(rows) == len(SCENARIOS) * len(PLANNERS) + len(PLANNERS)
    recs = load_records(out / "runs.jsonl")
    for p in PLANNERS:
        overall = next(r for r in rows if r["scenario"] == "ALL" and r["planner"] == p)
        mine = [r for r in recs if r["planner"] == p]
        assert int(overall["runs"]) == len(mine)
        assert float(overall["success_rate"]) == pytest.approx(sum(r["success"] for r in mine) / len(mine))
    rrt_narrow = next(r for r in rows if r["scenario"] == "narrow" and r["planner"] == "rrt")
    rec = next(r for r in recs if r["scenario"] == "narrow" and r["planner"] == "rrt")
    assert float(rrt_narrow["mean_time_s"]) == pytest.approx(rec["time_s"])
    md = (out / "summary.md").read_text()
    assert "| narrow | rrt |" in md and "**ALL**" in md
    for png in ("success_vs_time.png", "duration_ratio_vs_time.png", "success_by_scenario.png"):
        from PIL import Image

        with Image.open(out / png) as im:
            assert im.size[0] > 200 and im.size[1] > 200


def test_anytime_runs_record_their_cost_history(tmp_path):
    """sst with ``return_first=false`` plans to its time limit: its record holds the result's cost
    history and first-solution time, which the summary and both time figures use."""
    csv_path = _scenario_file(tmp_path, names=("narrow",))
    out = tmp_path / "out"
    assert main(["eval", "--scenarios", str(csv_path), "--planners", "sst", "--param", "sst:return_first=false",
                 "--trials", "1", "--time-limit", "3", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    (rec,) = load_records(out / "runs.jsonl")
    assert rec["success"], rec["reason"]  # narrow is solved well within a second when unloaded
    res = PlanResult.from_json(out / rec["result_file"])
    assert rec["cost_history"] == res.extra["cost_history"] and len(rec["cost_history"]) >= 1
    assert rec["first_time_s"] == rec["cost_history"][0][0] < rec["time_s"]
    assert rec["cost_history"][-1][1] == pytest.approx(rec["path_duration_s"])
    assert rec["lower_bound_s"] == pytest.approx(res.lower_bound_s)
    assert rec["setup_s"] == pytest.approx(res.setup_s) and rec["setup_s"] > 0  # what the user waited before time_s
    with open(out / "summary.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["scenario"] == "ALL")
    assert float(row["median_time_s"]) == pytest.approx(rec["first_time_s"])
    assert float(row["median_first_duration_ratio"]) == pytest.approx(rec["cost_history"][0][1] / rec["lower_bound_s"])
    for png in ("success_vs_time.png", "duration_ratio_vs_time.png"):
        assert (out / png).stat().st_size > 1000


def test_resume_runs_nothing_new(evaluated, capsys):
    argv, out = evaluated
    before = (out / "runs.jsonl").read_bytes()
    assert main(argv) == 0
    assert "0 run now, 4 already" in capsys.readouterr().out
    assert (out / "runs.jsonl").read_bytes() == before


def test_resume_after_a_truncated_line(evaluated, tmp_path):
    """A kill mid-write leaves a partial last line: it is dropped and only that run is redone."""
    argv, out = evaluated
    lines = (out / "runs.jsonl").read_text().splitlines()
    copy = tmp_path / "out"
    copy.mkdir()
    (copy / "runs.jsonl").write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])
    cfg = EvalConfig(argv[2], copy, planners=PLANNERS, trials=1, time_limit=5, workers=1, seed=7,
                     save_results=False, progress=False)
    report = run_eval(cfg)
    assert (report.total, report.skipped, report.ran) == (4, 3, 1)
    recs = load_records(copy / "runs.jsonl")
    assert len(recs) == 4 and all(is_valid_record(r) for r in recs)
    assert [r["seed"] for r in recs[:3]] == [json.loads(l)["seed"] for l in lines[:3]]
    assert recs[3]["seed"] == json.loads(lines[3])["seed"] and recs[3]["result_file"] is None


def test_ompl_database(evaluated, tmp_path):
    """Tables and rows as Planner Arena reads them, and identical to what OMPL's own
    ompl_benchmark_statistics.py builds from our benchmark logs."""
    _, out = evaluated
    ours = sqlite3.connect(out / "benchmark.db")
    tables = {r[0] for r in ours.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "plannerConfigs", "enums", "runs", "progress"} <= tables
    views = {r[0] for r in ours.execute("SELECT name FROM sqlite_master WHERE type='view'")}
    assert views == {"bestPlannerConfigs", "bestPlannerConfigsPerExperiment"}
    assert sorted(r[0] for r in ours.execute("SELECT name FROM experiments")) == ["narrow", "random_large2"]
    assert sorted(r[0] for r in ours.execute("SELECT name FROM plannerConfigs")) == ["control_ompl-kpiece", "control_rrt"]
    assert ours.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4
    assert ours.execute("SELECT description FROM enums WHERE name='status' AND value=6").fetchone()[0] == "Exact solution"
    recs = {(r["scenario"].replace(" ", "_"), f"control_{r['planner']}"): r for r in load_records(out / "runs.jsonl")}
    rows = ours.execute(
        "SELECT experiments.name, plannerConfigs.name, runs.solved, runs.time, runs.graph_states, runs.seed, runs.status FROM runs "
        "JOIN experiments ON runs.experimentid = experiments.id JOIN plannerConfigs ON runs.plannerid = plannerConfigs.id"
    ).fetchall()
    for exp, planner, solved, t, nodes, seed, status in rows:
        r = recs[(exp, planner)]
        assert (bool(solved), nodes, seed) == (r["success"], r["nodes"], r["seed"])
        assert t == pytest.approx(r["time_s"])
        assert status == {"exact": 6, "timeout": 4, "failed": 0, "crash": 7}[r["status"]]
    settings = dict(ours.execute("SELECT name, settings FROM plannerConfigs").fetchall())
    assert "time_limit = 5.0\n;" in settings["control_rrt"] and "batch_size = " in settings["control_rrt"]

    from ompl._benchmark_statistics import readBenchmarkLog

    parsed = tmp_path / "parsed.db"
    readBenchmarkLog(str(parsed), [str(p) for p in sorted((out / "ompl_logs").glob("*.log"))], False)
    theirs = sqlite3.connect(parsed)
    for table in ("plannerConfigs", "enums"):
        assert sorted(theirs.execute(f"SELECT * FROM {table}")) == sorted(ours.execute(f"SELECT * FROM {table}"))
    q = "SELECT e.name, p.name, r.* FROM runs r JOIN experiments e ON r.experimentid=e.id JOIN plannerConfigs p ON r.plannerid=p.id"
    strip = lambda rows: sorted(row[:2] + row[5:] for row in rows)
    assert strip(theirs.execute(q).fetchall()) == strip(ours.execute(q).fetchall())
    cols = "name, timelimit, runcount, version, seed, setup, map"
    assert sorted(theirs.execute(f"SELECT {cols} FROM experiments")) == sorted(ours.execute(f"SELECT {cols} FROM experiments"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--planners": "rrt,nosuch"}, "unknown planner(s) ['nosuch']"),
        ({"--trials": "0"}, "--trials must be an integer >= 1"),
        ({"--time-limit": "-1"}, "--time-limit must be positive"),
        ({"--maps": "/nonexistent/maps"}, "map folder not found"),
        ({"--scenarios": "EMPTY"}, "the scenario file is empty"),
        ({"--scenarios": "MISSING_MAP"}, "needs map"),
        ({"--param": "rrt:nosuch=1"}, "has no such parameter"),
    ],
)
def test_bad_arguments_fail_fast(tmp_path, capsys, change, message):
    csv_path = _scenario_file(tmp_path)
    if change.get("--scenarios") == "EMPTY":
        (tmp_path / "empty.csv").write_text("")
        change = {"--scenarios": str(tmp_path / "empty.csv")}
    elif change.get("--scenarios") == "MISSING_MAP":
        (tmp_path / "bad.csv").write_text(csv_path.read_text().replace("narrow,narrow_short", "narrow,no_such_map"))
        change = {"--scenarios": str(tmp_path / "bad.csv")}
    args = {"--scenarios": str(csv_path), "--planners": "rrt", "--trials": "1", "--time-limit": "5",
            "--out": str(tmp_path / "out"), **change}
    argv = ["eval", "--no-progress"] + [x for kv in args.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ditree eval: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out" / "runs.jsonl").exists()


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(DitreeInputError, match="--workers"):
        EvalConfig(None, tmp_path, planners=("rrt",), workers=-1)
    with pytest.raises(DitreeInputError, match="listed twice"):
        EvalConfig(None, tmp_path, planners=("rrt", "rrt"))
    with pytest.raises(DitreeInputError, match="--address only applies"):
        EvalConfig(None, tmp_path, planners=("rrt",), address="auto")
    with pytest.raises(DitreeInputError, match="either a suite"):
        EvalConfig(_scenario_file(tmp_path), tmp_path, suite="ditree_car")
    with pytest.raises(DitreeInputError, match="has no split 'train'"):
        EvalConfig(None, tmp_path, split="train")


def test_a_suite_evaluation_names_the_suite_not_paths(tmp_path):
    """``--suite ditree_car --split validation``: the 3 validation scenarios; the outputs name the
    suite and hold no path into the data directory."""
    out = tmp_path / "val"
    assert main(["eval", "--suite", "ditree_car", "--split", "validation", "--planners", "rrt", "--trials", "1",
                 "--time-limit", "2", "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    recs = load_records(out / "runs.jsonl")
    assert sorted(r["scenario"] for r in recs) == ["val_maze_large", "val_maze_small", "val_maze_xlarge"]
    cfg = json.loads((out / "eval_config.json").read_text())
    assert cfg["suite"] == "ditree_car" and cfg["split"] == "validation"
    data = str(suite_maps_dir("ditree_car").parent.parent)
    for f in ("eval_config.json", "summary.md", *(f"results/{n.name}" for n in (out / "results").iterdir())):
        assert data not in (out / f).read_text(), f
    assert "suite ditree_car (validation)" in (out / "summary.md").read_text()
    for n in (out / "results").iterdir():
        assert PlanResult.from_json(n).suite == "ditree_car"


def test_seeds_are_deterministic_and_distinct():
    assert derive_seed(0, "boxes", "rrt", 0) == derive_seed(0, "boxes", "rrt", 0)
    seeds = {derive_seed(s, sc, p, t) for s in (0, 1) for sc in ("boxes", "narrow") for p in ("rrt", "sst") for t in range(5)}
    assert len(seeds) == 40 and all(0 <= x < 2**31 for x in seeds)
    # pinned: the documented formula, stable across machines and Python versions
    import hashlib

    assert derive_seed(0, "boxes", "rrt", 0) == int.from_bytes(hashlib.sha256(b"0/boxes/rrt/0").digest()[:4], "big") & 0x7FFFFFFF


def test_ray_backend_matches_local(evaluated, tmp_path):
    """The Ray backend (local instance, 1 CPU) writes the same records: same seeds, and the
    deterministic rrt builds the same tree as in the local process pool."""
    pytest.importorskip("ray")
    _argv, out = evaluated
    csv_path = _scenario_file(tmp_path, names=("narrow",))
    cfg = EvalConfig(csv_path, tmp_path / "ray", planners=("rrt",), trials=1, time_limit=5, workers=1, seed=7,
                     backend="ray", progress=False)
    report = run_eval(cfg)
    assert report.ran == 1
    (ray_rec,) = load_records(tmp_path / "ray" / "runs.jsonl")
    local = next(r for r in load_records(out / "runs.jsonl") if r["scenario"] == "narrow" and r["planner"] == "rrt")
    for k in ("seed", "success", "nodes", "iterations", "path_length_m"):
        assert ray_rec[k] == local[k], k
    assert (tmp_path / "ray" / ray_rec["result_file"]).is_file()
    assert (tmp_path / "ray" / "benchmark.db").is_file()


def test_worker_error_becomes_a_failed_record():
    """A run whose planner raises inside its worker process is recorded (status crash, the error
    in reason) and the evaluation goes on."""
    from ditree.eval.backends import run_local
    from ditree.eval.spec import RunSpec
    from envs.problem import test_problem

    problem = test_problem("narrow")
    specs = [RunSpec("narrow", "narrow_short", "rrt", 0, 1, 5.0, problem, {"batch_size": -3}),
             RunSpec("narrow", "narrow_short", "rrt", 1, 2, 5.0, problem, {"max_iterations": 1})]
    got = []
    run_local(specs, 2, True, lambda rec, js: got.append((rec, js)))
    by_trial = {rec["trial"]: (rec, js) for rec, js in got}
    bad, js = by_trial[0]
    assert is_valid_record(bad) and bad["status"] == "crash" and not bad["success"] and js is None
    assert bad["reason"].startswith("error: DitreeInputError") and "batch_size" in bad["reason"]
    ok, js = by_trial[1]
    assert is_valid_record(ok) and ok["status"] != "crash" and ok["iterations"] <= 1
    assert PlanResult.from_json(js).seed == 2


def test_summary_uses_first_solution_time_and_median_ratio():
    from ditree.eval.records import is_valid_record
    from ditree.eval.summary import summarize

    base = {"scenario": "s", "map": "m", "planner": "ditree-star", "trial": 0, "seed": 1, "time_limit": 30.0,
            "success": True, "time_s": 30.0, "path_length_m": 10.0, "path_duration_s": 5.0, "duration_ratio": 1.5,
            "nodes": 10, "iterations": 2, "policy_calls": 3, "validated": True, "reason": "", "status": "exact",
            "memory_mb": None, "result_file": None}
    recs = [dict(base, trial=i, first_time_s=t, duration_ratio=r, first_duration_ratio=2 * r)
            for i, (t, r) in enumerate([(1.0, 1.2), (2.0, 1.4), (4.0, 3.0)])]
    assert all(is_valid_record(r) for r in recs)
    assert is_valid_record(dict(base))  # the optional keys may be absent (older files)
    assert not is_valid_record(dict(base, first_time_s="soon"))
    row = next(r for r in summarize(recs) if r["scenario"] == "s")
    assert row["median_time_s"] == 2.0 and abs(row["mean_time_s"] - 7 / 3) < 1e-12
    assert row["median_duration_ratio"] == 1.4
