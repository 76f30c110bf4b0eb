"""Evaluation plots (matplotlib, headless): success against the time to the first solution, the
best path's duration / bound against time, and per-scenario success bars. The curves are computed
in :mod:`ditree.eval.curves`.

Anytime planners (``ditree-star``, ``sst`` with ``return_first=False``) use their whole time limit,
so both time plots measure them by when they found a path (``first_time_s`` and the cost history),
not by when they stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ditree.eval.curves import ratio_curves, success_curve, time_axis


def plot_success_vs_time(records: list[dict[str, Any]], planners: list[str], time_limit: float, out: Path) -> Path:
    """Success rate (over all scenarios and trials) against the time to the first solution, log
    time axis, one line per planner: the share of runs that had found a path by each time."""
    budgets = time_axis(records, time_limit)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for p in planners:
        recs = [r for r in records if r["planner"] == p]
        if recs:
            solved = sum(bool(r["success"]) for r in recs)
            ax.step(budgets, 100 * success_curve(recs, budgets), where="post", lw=2,
                    label=f"{p} ({solved}/{len(recs)} solved)")
    _mark_time_limit(ax, time_limit, budgets)
    ax.set_xscale("log")
    ax.set_xlabel("time to the first solution (s, log scale)")
    ax.set_ylabel("runs solved by then (%)")
    ax.set_xlim(budgets[0], budgets[-1])
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"Success against time to the first solution (runs of {time_limit:g} s)", fontsize=10)
    return _save(fig, out)


def plot_duration_ratio_vs_time(records: list[dict[str, Any]], planners: list[str], time_limit: float,
                                out: Path) -> Path:
    """Path duration / lower bound of the best path found by each time, log time axis: per planner
    the median over its runs (line) and the 25-75% spread (band). Each run is a step function of
    its cost history (one-shot planners: constant from their solve time); a run without a path yet
    counts as infinite, so the median appears once more than half the runs are solved and the
    band's top once 75% are (until then the band is open to the top of the plot)."""
    times = time_axis(records, time_limit)
    curves = {}
    for p in planners:
        recs = [r for r in records if r["planner"] == p]
        if recs:
            curves[p] = ratio_curves(recs, times)
    finite = np.concatenate([q[np.isfinite(q)] for q, _ in curves.values()] + [np.ones(1)])
    top = max(1.5, float(finite.max()) * 1.05)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for p, (q, n) in curves.items():
        lo, med, hi = q
        line = ax.step(times, np.where(np.isfinite(med), med, np.nan), where="post", lw=2, label=f"{p} ({n} runs)")[0]
        has_band = np.isfinite(lo)
        if has_band.any():
            ax.fill_between(times, np.where(has_band, lo, np.nan), np.where(has_band, np.minimum(hi, top), np.nan),
                            step="post", alpha=0.15, color=line.get_color(), lw=0)
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    _mark_time_limit(ax, time_limit, times)
    ax.set_xscale("log")
    ax.set_xlabel("time (s, log scale)")
    ax.set_ylabel("best path duration / lower bound")
    ax.set_xlim(times[0], times[-1])
    ax.set_ylim(0.9, top)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_title(f"Best path so far: median and 25-75% over runs (runs of {time_limit:g} s)", fontsize=10)
    fig.text(0.01, -0.04, "Unsolved runs count as infinite: a median is drawn once more than half the runs have a path;\n"
             "a band open to the top: fewer than 75% have one. Dashed: the lower bound.",
             fontsize=8, va="top")
    return _save(fig, out)


def plot_success_by_scenario(records: list[dict[str, Any]], scenarios: list[str], planners: list[str],
                             out: Path) -> Path:
    """Grouped bars: success rate per scenario, one bar per planner."""
    rates = np.full((len(scenarios), len(planners)), np.nan)
    for i, s in enumerate(scenarios):
        for j, p in enumerate(planners):
            recs = [r for r in records if r["scenario"] == s and r["planner"] == p]
            if recs:
                rates[i, j] = 100 * np.mean([r["success"] for r in recs])
    width = 0.8 / max(len(planners), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(scenarios) * max(1, len(planners)) ** 0.5 + 2), 4.2))
    x = np.arange(len(scenarios))
    for j, p in enumerate(planners):
        ax.bar(x + (j - (len(planners) - 1) / 2) * width, np.nan_to_num(rates[:, j]), width, label=p)
    ax.set_xticks(x)
    ax.set_xticklabels(scenarios, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Success rate per scenario")
    return _save(fig, out)


def _mark_time_limit(ax, time_limit: float, times: np.ndarray) -> None:
    """A dotted vertical line at the time limit when runs overshot it (a planner checks its clock
    between iterations, so a slow iteration can end after the limit)."""
    if times[-1] > time_limit * 1.001:
        ax.axvline(time_limit, color="0.3", lw=1.0, ls=":", label="time limit")


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
