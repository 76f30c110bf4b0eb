"""The time curves of ``ditree eval`` (ditree.eval.curves) on hand-made records: success against
the time to the first solution, the best duration / bound against time (step functions of the cost
history, medians with unsolved runs as infinite), older records, and the figures they draw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ditree.eval.curves import (
    first_solution_time,
    quantiles_with_inf,
    ratio_curves,
    ratio_history,
    ratio_matrix,
    success_curve,
    time_axis,
)
from ditree.eval.plots import plot_duration_ratio_vs_time, plot_success_vs_time
from ditree.eval.records import is_valid_record
from ditree.eval.summary import summarize

LB = 4.0  # lower bound (s)


def _rec(planner: str, trial: int = 0, **kw) -> dict:
    base = {"scenario": "s", "map": "m", "planner": planner, "trial": trial, "seed": trial, "time_limit": 10.0,
            "success": True, "time_s": 10.0, "path_length_m": 10.0, "path_duration_s": 6.0,
            "duration_ratio": 6.0 / LB, "nodes": 10, "iterations": 2, "policy_calls": 0, "validated": True,
            "reason": "", "status": "exact", "memory_mb": None, "result_file": None, "lower_bound_s": LB}
    base.update(kw)
    return base


def _anytime(trial: int = 0, first: float = 0.5) -> dict:
    """First path (12 s) at ``first``, improved to 8 s at 2 s and to 6 s at 5 s; ran the 10 s limit."""
    hist = [[first, 12.0], [2.0, 8.0], [5.0, 6.0]]
    return _rec("star", trial, first_time_s=first, first_duration_ratio=12.0 / LB, cost_history=hist)


def _one_shot(trial: int = 0, t: float = 0.2, duration: float = 10.0) -> dict:
    return _rec("rrt", trial, time_s=t, path_duration_s=duration, duration_ratio=duration / LB, first_time_s=t,
                first_duration_ratio=duration / LB, cost_history=[[t, duration]])


def _unsolved(planner: str, trial: int = 0) -> dict:
    return _rec(planner, trial, success=False, path_length_m=None, path_duration_s=None, duration_ratio=None,
                reason="time limit", status="timeout")


def test_records_with_history_are_valid():
    assert is_valid_record(_anytime()) and is_valid_record(_one_shot()) and is_valid_record(_unsolved("rrt"))
    assert not is_valid_record(_rec("x", cost_history=[[1.0]]))
    assert not is_valid_record(_rec("x", cost_history=[[1.0, True]]))
    assert not is_valid_record(_rec("x", cost_history="soon"))
    assert not is_valid_record(_rec("x", lower_bound_s="big"))


def test_success_counts_the_first_solution_not_the_time_limit():
    star = _anytime()
    assert first_solution_time(star) == 0.5 and star["time_s"] == 10.0
    t = np.array([0.1, 0.4999, 0.5, 0.7, 3.0, 10.0])
    np.testing.assert_array_equal(success_curve([star], t), [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(success_curve([_one_shot(t=0.2)], t), [0, 1, 1, 1, 1, 1])
    both = [star, _unsolved("star", 1)]
    np.testing.assert_array_equal(success_curve(both, t), [0, 0, 0.5, 0.5, 0.5, 0.5])


def test_ratio_steps_down_at_the_improvement_times():
    t = np.array([0.3, 0.5, 1.9, 2.0, 4.99, 5.0, 10.0])
    (row,) = ratio_matrix([_anytime()], t)
    np.testing.assert_array_equal(row, [np.inf, 3.0, 3.0, 2.0, 2.0, 1.5, 1.5])
    (row,) = ratio_matrix([_one_shot(t=0.2, duration=10.0)], t)  # constant after its solve time
    np.testing.assert_array_equal(row, [2.5] * 7)
    (row,) = ratio_matrix([_unsolved("star")], t)
    assert np.isinf(row).all()
    q, n = ratio_curves([_anytime(0), _anytime(1, first=1.0), _anytime(2, first=1.5)], t)
    assert n == 3
    # the median: second of three runs; first paths at 0.5, 1.0, 1.5 s, all improved at 2 s and 5 s
    np.testing.assert_array_equal(q[1], [np.inf, np.inf, 3.0, 2.0, 2.0, 1.5, 1.5])


def test_median_exists_once_more_than_half_are_solved():
    inf = np.inf
    v = np.array([[2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [inf, 5.0, 5.0], [inf, inf, 7.0]])  # 2, 3, 4 of 4 solved
    q = quantiles_with_inf(v, (0.25, 0.5, 0.75))
    np.testing.assert_allclose(q[:, 1:], [[2.75, 2.75], [4.0, 4.0], [inf, 5.5]])
    assert q[0, 0] == 2.75 and np.isinf(q[1, 0]) and np.isinf(q[2, 0])
    finite = np.array([[1.0, 4.0], [2.0, 8.0], [3.0, 9.0], [5.0, 10.0]])
    np.testing.assert_allclose(quantiles_with_inf(finite, (0.25, 0.5, 0.75)),
                               np.quantile(finite, (0.25, 0.5, 0.75), axis=0))
    assert np.isinf(quantiles_with_inf(np.zeros((0, 3)), (0.5,))).all()


def test_older_records_fall_back_to_what_they_hold():
    """Files written before cost_history / lower_bound_s: the bound from duration / ratio, the first
    ratio at first_time_s and the final at time_s; one-shot ones solved at time_s."""
    old = _rec("star", first_time_s=0.5, first_duration_ratio=3.0)
    del old["lower_bound_s"]
    assert is_valid_record(old)
    np.testing.assert_allclose(ratio_history(old), [[0.5, 3.0], [10.0, 1.5]])
    old_one_shot = {k: v for k, v in _one_shot(t=0.3).items() if k not in ("first_time_s", "cost_history",
                                                                           "first_duration_ratio", "lower_bound_s")}
    assert first_solution_time(old_one_shot) == 0.3
    np.testing.assert_allclose(ratio_history(old_one_shot), [[0.3, 2.5], [0.3, 2.5]])
    no_bound = _rec("x", duration_ratio=None, lower_bound_s=None)
    assert ratio_history(no_bound) is None and ratio_matrix([no_bound], np.ones(3)).shape == (0, 3)
    row = next(r for r in summarize([old, old_one_shot], planners=["star", "rrt"]) if r["planner"] == "rrt")
    assert row["median_time_s"] == 0.3 and row["median_first_duration_ratio"] == 2.5


def test_summary_first_and_final_ratios():
    rows = summarize([_anytime(0), _anytime(1, first=1.5), _unsolved("star", 2)])
    row = next(r for r in rows if r["scenario"] == "ALL")
    assert (row["successes"], row["runs"]) == (2, 3)
    assert row["median_time_s"] == 1.0 and row["mean_time_s"] == 1.0
    assert row["median_first_duration_ratio"] == 3.0 and row["median_duration_ratio"] == 1.5


def test_time_axis_is_log_and_reaches_the_limit():
    t = time_axis([_anytime(first=0.5), _one_shot(t=0.02)], 10.0)
    assert t[0] == pytest.approx(0.01) and t[-1] == pytest.approx(10.0)
    assert np.allclose(np.diff(np.log(t)), math.log(t[1] / t[0]))
    assert time_axis([_unsolved("rrt")], 5.0)[0] == pytest.approx(0.01)
    assert time_axis([_one_shot(t=0.1)], 10.0)[0] == pytest.approx(0.01)  # strictly before the first solution


def test_figures_are_drawn(tmp_path):
    from PIL import Image

    recs = [_anytime(i, first=0.5 + 0.3 * i) for i in range(3)] + [_one_shot(i, t=0.1 * (i + 1)) for i in range(3)]
    recs += [_unsolved("rrt", 3)]
    for plot, name in ((plot_success_vs_time, "s.png"), (plot_duration_ratio_vs_time, "r.png")):
        path = plot(recs, ["star", "rrt", "absent"], 10.0, tmp_path / name)
        with Image.open(path) as im:
            assert im.size[0] > 300 and im.size[1] > 200
    # every run unsolved: still a figure (no median anywhere)
    plot_duration_ratio_vs_time([_unsolved("rrt")], ["rrt"], 10.0, tmp_path / "none.png")
    assert (tmp_path / "none.png").stat().st_size > 1000
