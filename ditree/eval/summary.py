"""Per-scenario and per-planner tables from run records: ``summary.csv`` and ``summary.md``.

One row per (scenario, planner) and one overall row per planner (scenario ``ALL``, over every run
of that planner). Columns::

    scenario, planner, runs, successes, success_rate (0..1),
    mean_time_s, median_time_s        time to the first solution over successful runs only (the paper's
                                      convention), null if none; for anytime planners ``first_time_s``
    mean_path_length_m, mean_path_duration_s, mean_duration_ratio, median_duration_ratio
                                      over successful runs (the returned, i.e. final, path)
    median_first_duration_ratio       the first path's duration / bound over successful runs; equals
                                      the final one for one-shot planners (and older records)
    mean_nodes, mean_policy_calls     over all runs
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ditree.eval.curves import first_solution_time

SUMMARY_COLUMNS = (
    "scenario", "planner", "runs", "successes", "success_rate", "mean_time_s", "median_time_s",
    "mean_path_length_m", "mean_path_duration_s", "mean_duration_ratio", "median_duration_ratio",
    "median_first_duration_ratio", "mean_nodes", "mean_policy_calls",
)
OVERALL = "ALL"


def _mean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def _median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def _row(scenario: str, planner: str, recs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in recs if r["success"]]
    # time to the first solution: anytime planners spend the whole budget improving it
    times = [first_solution_time(r) for r in ok]
    return {
        "scenario": scenario,
        "planner": planner,
        "runs": len(recs),
        "successes": len(ok),
        "success_rate": len(ok) / len(recs) if recs else None,
        "mean_time_s": _mean(times),
        "median_time_s": float(np.median(times)) if times else None,
        "mean_path_length_m": _mean([r["path_length_m"] for r in ok]),
        "mean_path_duration_s": _mean([r["path_duration_s"] for r in ok]),
        "mean_duration_ratio": _mean([r.get("duration_ratio") for r in ok]),
        "median_duration_ratio": _median([r.get("duration_ratio") for r in ok]),
        "median_first_duration_ratio": _median([r.get("first_duration_ratio", r.get("duration_ratio")) for r in ok]),
        "mean_nodes": _mean([r["nodes"] for r in recs]),
        "mean_policy_calls": _mean([r["policy_calls"] for r in recs]),
    }


def summarize(records: list[dict[str, Any]], scenarios: list[str] | None = None,
              planners: list[str] | None = None) -> list[dict[str, Any]]:
    """Summary rows, scenarios then planners in the given order (else first-seen order), then the
    overall row of each planner. (scenario, planner) pairs without runs are left out."""
    scenarios = scenarios or list(dict.fromkeys(r["scenario"] for r in records))
    planners = planners or list(dict.fromkeys(r["planner"] for r in records))
    rows = []
    for s in scenarios:
        for p in planners:
            recs = [r for r in records if r["scenario"] == s and r["planner"] == p]
            if recs:
                rows.append(_row(s, p, recs))
    for p in planners:
        recs = [r for r in records if r["planner"] == p]
        if recs:
            rows.append(_row(OVERALL, p, recs))
    return rows


def write_summary_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r[k] is None else r[k]) for k in SUMMARY_COLUMNS})
    return path


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def write_summary_md(rows: list[dict[str, Any]], path: Path, title: str = "Evaluation summary",
                     notes: list[str] | None = None) -> Path:
    """A Markdown table: success rate in %, times to the first solution and duration / bound of
    the first and the final path over successful runs."""
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes or []]
    if notes:
        lines.append("")
    lines += [
        ("| scenario | planner | runs | success | time to first path, mean (s) | (median) | path length (m) | "
        "path duration (s) | duration / bound, mean | median | first path's, median | nodes | policy calls |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = f"**{r['scenario']}**" if r["scenario"] == OVERALL else r["scenario"]
        rate = "-" if r["success_rate"] is None else f"{100 * r['success_rate']:.0f}% ({r['successes']}/{r['runs']})"
        lines.append(
            f"| {name} | {r['planner']} | {r['runs']} | {rate} | {_fmt(r['mean_time_s'])} | {_fmt(r['median_time_s'])} | "
            f"{_fmt(r['mean_path_length_m'], 1)} | {_fmt(r['mean_path_duration_s'])} | {_fmt(r['mean_duration_ratio'])} | {_fmt(r['median_duration_ratio'])} | "
            f"{_fmt(r['median_first_duration_ratio'])} | "
            f"{_fmt(r['mean_nodes'], 0)} | {_fmt(r['mean_policy_calls'], 0)} |"
        )
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
