"""Run an evaluation (scenario x planner x trial), resumable, and write every report.

Files in ``cfg.out``::

    runs.jsonl                 one record per finished run (schema: ditree.eval.records), appended and
                               flushed as runs finish; a rerun skips the runs already there
    results/<run>.json         each run's PlanResult JSON (unless save_results is False)
    summary.csv, summary.md    per scenario and planner, and overall per planner (ditree.eval.summary)
    success_vs_time.png        success rate against the time to the first solution (log time axis),
                               one line per planner (ditree.eval.plots)
    duration_ratio_vs_time.png the best path's duration / lower bound against time (log time axis):
                               per planner the median and the 25-75% band over runs
    success_by_scenario.png    success rate per scenario, one bar per planner
    benchmark.db               OMPL benchmark database for Planner Arena (ditree.eval.ompl_db)
    ompl_logs/<scenario>.log   the same data as OMPL benchmark logs
    eval_config.json           the evaluation's parameters

Reports cover the runs of this evaluation's run set (done now or by an earlier invocation), not
other records that may sit in the same ``runs.jsonl`` (e.g. from another time limit).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ditree.eval.backends import run_local, run_ray
from ditree.eval.ompl_db import build_experiments, write_benchmark_db, write_benchmark_logs
from ditree.eval.plots import plot_duration_ratio_vs_time, plot_success_by_scenario, plot_success_vs_time
from ditree.eval.records import RecordWriter, load_records, record_key
from ditree.eval.spec import EvalConfig, RunSpec, build_runs, load_eval_scenarios
from ditree.eval.summary import summarize, write_summary_csv, write_summary_md
from envs.errors import DitreeInputError
from envs.problem import Problem, Scenario

RUNS_FILE = "runs.jsonl"
RESULTS_DIR = "results"


@dataclass
class EvalReport:
    """What :func:`run_eval` did: run counts and the files it wrote."""

    out: Path
    total: int
    skipped: int
    ran: int
    wall_s: float
    summary: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def check_planners(names: tuple[str, ...] | list[str]) -> None:
    """Fail with a one-line message if a planner is not registered."""
    try:
        from ditree.registry import available_planners
    except ImportError as e:
        raise DitreeInputError(f"the planner registry is not available ({e})") from None
    known = list(available_planners())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DitreeInputError(f"--planners: unknown planner(s) {unknown}; available: {sorted(known)}")


def planner_settings(cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    """Each planner's parameters for the OMPL database: the defaults of its registered parameter
    dataclasses, overridden by ``cfg.planner_params``."""
    out: dict[str, dict[str, Any]] = {}
    for name in cfg.planners:
        settings: dict[str, Any] = {}
        try:
            from ditree.registry import planner_entry

            for cls in planner_entry(name).param_types:
                try:
                    settings.update({k: v for k, v in asdict(cls()).items() if not isinstance(v, (dict, list))})
                except TypeError:  # a parameter class without defaults for every field
                    pass
        except (ImportError, DitreeInputError):
            pass
        settings.update(cfg.planner_params.get(name, {}))
        out[name] = settings
    return out


def check_planners_build(cfg: EvalConfig) -> None:
    """Build each planner once with its parameters (then discard it), so that a bad parameter or a
    missing checkpoint fails now with one message rather than once per run in the workers."""
    from ditree.registry import make_planner

    for name in cfg.planners:
        try:
            make_planner(name, **cfg.planner_params.get(name, {}))
        except DitreeInputError:
            raise
        except (FileNotFoundError, ImportError, ValueError, RuntimeError) as e:
            raise DitreeInputError(f"planner {name!r} cannot be built: {e}") from None


def check_planner_robots(cfg: EvalConfig) -> None:
    """Fail with a one-line message if a learned planner's checkpoint (its ``checkpoint`` parameter,
    or the one shipped for ``cfg.robot``) was trained for another robot than ``cfg.robot``."""
    from ditree.policy.checkpoint import checkpoint_paths, read_metadata, shipped_checkpoint
    from ditree.registry import planner_entry

    for name in cfg.planners:
        if "checkpoint" not in planner_entry(name).param_fields():
            continue
        path = cfg.planner_params.get(name, {}).get("checkpoint") or shipped_checkpoint(cfg.robot)
        js = checkpoint_paths(path)[1]
        meta = read_metadata(js)
        r = meta["robot"]
        trained = r.get("name") if isinstance(r, dict) else r
        if trained != cfg.robot:
            raise DitreeInputError(
                f"planner {name!r}: checkpoint {js} was trained for robot {trained!r}, not --robot {cfg.robot!r}"
            )


def prepare(cfg: EvalConfig) -> tuple[list[tuple[Scenario, Problem]], list[RunSpec]]:
    """Validate everything that can be validated before a worker starts; return scenarios and runs."""
    check_planners(cfg.planners)
    check_planner_robots(cfg)
    check_planners_build(cfg)
    scenarios = load_eval_scenarios(cfg)
    return scenarios, build_runs(cfg, scenarios)


def _setup_text(s: Scenario, p: Problem, cfg: EvalConfig) -> str:
    H, W = p.world.shape
    return (
        f"scenario {s.name!r} from {cfg.suite or cfg.scenarios_csv.name}: map {s.map_name} ({H}x{W} cells of {p.world.cell_size:g} m); "
        f"start cell ({s.start_row}, {s.start_col}) heading {s.start_deg:g} deg at rest; goal cell ({s.goal_row}, "
        f"{s.goal_col}), radius {p.goal_radius:g} m; robot {p.robot.name} ({type(p.robot).__name__})"
    )


def write_reports(cfg: EvalConfig, scenarios: list[tuple[Scenario, Problem]], records: list[dict[str, Any]],
                  wall_s: float | None = None) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Summaries, plots and the OMPL database from ``records`` (those of this evaluation)."""
    out = cfg.out
    names = [s.name for s, _ in scenarios]
    planners = list(cfg.planners)
    rows = summarize(records, names, planners)
    notes = [
        (f"{len(records)} runs: {len(names)} scenarios x {len(planners)} planners x {cfg.trials} trials, "
        f"time limit {cfg.time_limit:g} s, base seed {cfg.seed} (seeds: ditree.eval.spec.derive_seed)"),
        f"robot {cfg.robot}; {cfg.describe_scenarios()}",
        f"host {platform.node()} ({os.cpu_count()} CPUs), {cfg.n_workers} workers, backend {cfg.backend}"
        + (f", wall time of the last invocation {wall_s:.0f} s" if wall_s is not None else ""),
        ("times are wall-clock times to the first solution over successful runs (anytime planners keep "
         "improving until the time limit); they are noisy when workers share cores"),
    ]
    files = {
        "runs": out / RUNS_FILE,
        "summary_csv": write_summary_csv(rows, out / "summary.csv"),
        "summary_md": write_summary_md(rows, out / "summary.md", notes=notes),
        "success_vs_time": plot_success_vs_time(records, planners, cfg.time_limit, out / "success_vs_time.png"),
        "duration_ratio_vs_time": plot_duration_ratio_vs_time(records, planners, cfg.time_limit,
                                                              out / "duration_ratio_vs_time.png"),
        "success_by_scenario": plot_success_by_scenario(records, names, planners, out / "success_by_scenario.png"),
    }
    exps = build_experiments(
        records, names, planners, time_limit=cfg.time_limit, trials=cfg.trials, seed=cfg.seed,
        setups={s.name: _setup_text(s, p, cfg) for s, p in scenarios}, planner_params=planner_settings(cfg),
    )
    files["benchmark_db"] = write_benchmark_db(exps, out / "benchmark.db")
    write_benchmark_logs(exps, out / "ompl_logs")
    files["ompl_logs"] = out / "ompl_logs"
    return rows, files


def _config_json(cfg: EvalConfig) -> dict[str, Any]:
    d = asdict(cfg)
    if cfg.suite is not None:  # name the suite, not where it lies on this machine
        d["scenarios_csv"] = d["maps_dir"] = d["data_dir"] = None
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def run_eval(cfg: EvalConfig) -> EvalReport:
    """Run every run of ``cfg`` not already in ``cfg.out/runs.jsonl``, then write the reports.

    Raises :class:`DitreeInputError` (before any worker starts) for an unknown planner, a missing
    map or scenario file, an empty scenario file or bad numbers.
    """
    scenarios, runs = prepare(cfg)
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_config.json").write_text(json.dumps(_config_json(cfg), indent=2) + "\n")
    runs_path = out / RUNS_FILE
    existing = load_records(runs_path)
    done_keys = {record_key(r) for r in existing}
    todo = [r for r in runs if r.key not in done_keys]
    if cfg.save_results:
        (out / RESULTS_DIR).mkdir(exist_ok=True)

    bar = None
    if cfg.progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="eval", unit="run", dynamic_ncols=True)
    solved = 0
    t0 = time.perf_counter()
    with RecordWriter(runs_path) as writer:

        def on_done(rec: dict[str, Any], result_json: str | None) -> None:
            nonlocal solved
            if result_json is not None and rec.get("result_file"):
                (out / rec["result_file"]).write_text(result_json)
            elif rec.get("result_file"):
                rec["result_file"] = None
            writer.write(rec)
            solved += bool(rec["success"])
            if bar is not None:
                bar.set_postfix_str(f"solved {solved}, last {rec['planner']}/{rec['scenario']}", refresh=False)
                bar.update(1)

        try:
            if todo and cfg.backend == "ray":
                run_ray(todo, cfg.save_results, on_done, address=cfg.address, num_cpus=cfg.workers or None)
            elif todo:
                run_local(todo, min(cfg.n_workers, len(todo)), cfg.save_results, on_done)
        finally:
            if bar is not None:
                bar.close()
    wall = time.perf_counter() - t0

    keys = {r.key for r in runs}
    records = list({record_key(r): r for r in reversed(load_records(runs_path)) if record_key(r) in keys}.values())
    records.reverse()  # one record per run (the first written), in file order
    rows, files = write_reports(cfg, scenarios, records, wall)
    return EvalReport(out, len(runs), len(runs) - len(todo), len(todo), wall, rows, files)
