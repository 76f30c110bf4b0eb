"""Evaluation plots (matplotlib, headless): success rate against time budget, and per-scenario bars.

Success within a budget ``t`` is computed from the solve times of runs made with the full time
limit: a run counts as solved within ``t`` when it succeeded with ``time_s <= t`` (anytime curve).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def success_curve(records: list[dict[str, Any]], budgets: np.ndarray) -> np.ndarray:
    """Fraction of ``records`` solved within each budget ``(B,)`` seconds -> ``(B,)``."""
    if not records:
        return np.zeros(len(budgets))
    times = np.array([r["time_s"] if r["success"] else np.inf for r in records])
    return (times[None, :] <= np.asarray(budgets)[:, None]).mean(axis=1)


def plot_success_vs_time(records: list[dict[str, Any]], planners: list[str], time_limit: float, out: Path) -> Path:
    """Success rate (over all scenarios and trials) against the time budget, one line per planner."""
    budgets = np.linspace(0.0, time_limit, 400)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for p in planners:
        recs = [r for r in records if r["planner"] == p]
        if recs:
            ax.plot(budgets, 100 * success_curve(recs, budgets), lw=2, label=f"{p} ({len(recs)} runs)")
    ax.set_xlabel("time budget (s)")
    ax.set_ylabel("success rate (%)")
    ax.set_xlim(0, time_limit)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Success rate against time budget")
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


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out
