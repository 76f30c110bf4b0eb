"""One evaluation run, as executed inside a worker process (local pool or Ray task).

A worker returns ``(record, result_json)``: the ``runs.jsonl`` record (schema in
:mod:`ditree.eval.records`) and the run's :class:`~planners.results.PlanResult` as JSON text (or
``None``). Files are written by the parent, so a remote worker needs no shared disk.
"""

from __future__ import annotations

import math
import resource
import sys
import traceback
from typing import Any

from ditree.eval.spec import RunSpec


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (MB); ru_maxrss is KiB on Linux, bytes on macOS."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def base_record(spec: RunSpec) -> dict[str, Any]:
    return {
        "scenario": spec.scenario,
        "map": spec.map,
        "planner": spec.planner,
        "trial": int(spec.trial),
        "seed": int(spec.seed),
        "time_limit": float(spec.time_limit),
        "robot": spec.robot,
    }


def failure_record(spec: RunSpec, reason: str, time_s: float = 0.0, status: str = "crash") -> dict[str, Any]:
    """The record of a run that produced no PlanResult (the worker raised, crashed or hung)."""
    rec = base_record(spec)
    rec.update(
        success=False, time_s=float(time_s), path_length_m=None, path_duration_s=None, duration_ratio=None,
        nodes=0, iterations=0, policy_calls=0, validated=False, reason=reason, status=status, memory_mb=None,
        result_file=None,
    )
    return rec


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def cost_history(result) -> list[list[float]]:
    """``[[t_s, duration_s], ...]`` of a successful result: the anytime planners' recorded cost
    history (first path, then every improvement), or for one-shot planners their one path at
    ``time_s``."""
    hist = result.extra.get("cost_history")
    if hist:
        return [[float(t), float(d)] for t, d in hist]
    return [[float(result.time_s), float(result.path_duration_s)]]


def execute_run(spec: RunSpec, save_result: bool = True) -> tuple[dict[str, Any], str | None]:
    """Plan ``spec`` with the public API and return its record and (optionally) its result JSON.

    Never raises for a planner error: the exception becomes a failed record with ``status`` "crash".
    """
    try:
        from ditree.api import plan

        result = plan(spec.problem, planner=spec.planner, time_limit=spec.time_limit, seed=spec.seed, **spec.params)
    except Exception as e:  # noqa: BLE001 - one run's failure must not end the evaluation
        tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return failure_record(spec, f"error: {type(e).__name__}: {e} ({tb})"), None

    if result.scenario is None:
        result.scenario = spec.scenario
    if result.map is None:
        result.map = spec.map
    if getattr(result, "lower_bound_s", None) is None:
        try:
            from envs.lower_bound import duration_lower_bound

            result.lower_bound_s = _finite_or_none(duration_lower_bound(spec.problem))
        except (ImportError, ValueError):
            pass
    ratio = getattr(result, "duration_ratio", None)
    rec = base_record(spec)
    rec.update(
        success=bool(result.success),
        time_s=float(result.time_s),
        path_length_m=float(result.path_length_m) if result.success else None,
        path_duration_s=float(result.path_duration_s) if result.success else None,
        duration_ratio=_finite_or_none(ratio) if result.success else None,
        nodes=int(result.nodes),
        iterations=int(result.iterations),
        policy_calls=int(result.counters.get("policy_calls", 0)),
        validated=bool(result.validated),
        reason=str(result.reason or ""),
        status="exact" if result.success else ("timeout" if result.time_s >= 0.95 * spec.time_limit else "failed"),
        memory_mb=round(_peak_memory_mb(), 1),
        result_file=f"results/{spec.result_name}" if save_result else None,
    )
    lb = _finite_or_none(getattr(result, "lower_bound_s", None))
    rec["lower_bound_s"] = lb
    if result.setup_s is not None:  # what the user waited before time_s started
        rec["setup_s"] = float(result.setup_s)
    if result.success:
        first_t = result.extra.get("first_time_s", result.time_s)
        first_d = result.extra.get("first_duration_s", result.path_duration_s)
        rec["first_time_s"] = float(first_t)
        rec["first_duration_ratio"] = _finite_or_none(first_d / lb) if lb else None
        rec["cost_history"] = cost_history(result)
    return rec, (result.to_json() if save_result else None)
