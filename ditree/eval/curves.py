"""Curves over time from run records (``runs.jsonl``, schema in :mod:`ditree.eval.records`):
success against the time to the first solution, and the best path's duration / bound against time.

Time to the first solution of a successful run is ``first_time_s`` where recorded (anytime planners
run to their time limit, so their ``time_s`` is the limit), else ``time_s`` (one-shot planners stop
at their first path). Unsolved runs count as never solved.

A run's *ratio history* is a step function: the duration / lower bound of the best path found so
far, from its ``cost_history`` (``[[t_s, duration_s], ...]``: the first path and every improvement)
divided by ``lower_bound_s``. Records written before those fields existed fall back to what they
hold: the first path's ratio (``first_duration_ratio``) at the first solution and the final path's
(``duration_ratio``) at ``time_s`` at the latest (when exactly it was found is not recorded).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def first_solution_time(rec: dict[str, Any]) -> float:
    """Seconds to the run's first solution; ``inf`` for an unsolved run."""
    if not rec["success"]:
        return math.inf
    t = rec.get("first_time_s")
    return float(rec["time_s"] if t is None else t)


def record_lower_bound(rec: dict[str, Any]) -> float | None:
    """The run's duration lower bound (s): ``lower_bound_s``, else path duration / duration ratio
    (older records); None when unknown."""
    lb = rec.get("lower_bound_s")
    if lb:
        return float(lb)
    if rec.get("duration_ratio") and rec.get("path_duration_s"):
        return float(rec["path_duration_s"]) / float(rec["duration_ratio"])
    return None


def ratio_history(rec: dict[str, Any]) -> np.ndarray | None:
    """``(K, 2)`` rows ``[t_s, duration / bound]`` of the best path found by ``t_s``, times
    ascending and ratios non-increasing; ``(0, 2)`` for an unsolved run; None for a solved run
    whose lower bound is unknown (it has no ratio)."""
    if not rec["success"]:
        return np.zeros((0, 2))
    lb = record_lower_bound(rec)
    if lb is None:
        return None
    hist = rec.get("cost_history")
    if hist:
        h = np.asarray(hist, dtype=float).reshape(-1, 2)
        h = np.column_stack([h[:, 0], h[:, 1] / lb])
    else:  # older record: the first and the final path only
        final = float(rec["path_duration_s"]) / lb
        first = rec.get("first_duration_ratio")
        h = np.array([[first_solution_time(rec), final if first is None else float(first)],
                      [float(rec["time_s"]), final]])
    h = h[np.argsort(h[:, 0], kind="stable")]
    h[:, 1] = np.minimum.accumulate(h[:, 1])
    return h


def success_curve(records: list[dict[str, Any]], budgets: np.ndarray) -> np.ndarray:
    """Fraction of ``records`` whose first solution came within each budget ``(B,)`` s -> ``(B,)``."""
    budgets = np.asarray(budgets, dtype=float)
    if not records:
        return np.zeros(len(budgets))
    times = np.array([first_solution_time(r) for r in records])
    return (times[None, :] <= budgets[:, None]).mean(axis=1)


def ratio_matrix(records: list[dict[str, Any]], times: np.ndarray) -> np.ndarray:
    """``(R, T)``: each run's best duration / bound found by each time ``(T,)`` s (``inf`` before
    its first solution and for unsolved runs). Solved runs without a known bound are left out, so
    ``R`` may be smaller than ``len(records)``."""
    times = np.asarray(times, dtype=float)
    rows = []
    for rec in records:
        h = ratio_history(rec)
        if h is None:
            continue
        row = np.full(len(times), np.inf)
        if len(h):
            idx = np.searchsorted(h[:, 0], times, side="right") - 1
            row[idx >= 0] = h[idx[idx >= 0], 1]
        rows.append(row)
    return np.array(rows).reshape(len(rows), len(times))


def quantiles_with_inf(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Quantiles over axis 0 of ``values`` ``(R, T)`` -> ``(len(qs), T)``, interpolated linearly
    like ``np.quantile``, where ``inf`` (unsolved so far) sorts last: a quantile is finite only once
    the runs at and just above its position are solved (the median: more than half of them)."""
    v = np.sort(np.asarray(values, dtype=float), axis=0)
    n = v.shape[0]
    out = np.full((len(qs), v.shape[1]), np.inf)
    if n == 0:
        return out
    for i, q in enumerate(qs):
        pos = q * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        frac = pos - lo
        a, b = v[lo], v[hi]
        with np.errstate(invalid="ignore"):
            mid = a + frac * (b - a)
        out[i] = np.where(frac == 0, a, np.where(np.isfinite(b), mid, np.inf))
    return out


def ratio_curves(records: list[dict[str, Any]], times: np.ndarray,
                 qs: tuple[float, ...] = (0.25, 0.5, 0.75)) -> tuple[np.ndarray, int]:
    """Quantiles ``(len(qs), T)`` over runs of the best duration / bound found by each time
    (:func:`ratio_matrix`, :func:`quantiles_with_inf`), and the number of runs they are over."""
    m = ratio_matrix(records, times)
    return quantiles_with_inf(m, qs), m.shape[0]


def time_axis(records: list[dict[str, Any]], time_limit: float, n: int = 400) -> np.ndarray:
    """``(n,)`` log-spaced times (s) from a power of ten below the earliest recorded solution (at
    least 1 ms, at most the limit / 10) to the time limit (or the latest solution, if later)."""
    firsts = [first_solution_time(r) for r in records if r["success"]]
    positive = [t for t in firsts if 0 < t < math.inf]
    hi = max([float(time_limit)] + [float(r["time_s"]) for r in records if r["success"]])
    lo = 10.0 ** math.floor(math.log10(min(positive)) - 1e-9) if positive else 0.01
    lo = min(max(lo, 1e-3), hi / 10.0)
    return np.geomspace(lo, hi, n)
