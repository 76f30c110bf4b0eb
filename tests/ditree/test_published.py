"""dynobench's published metrics (p, t_st, J_st, J_f) computed from run histories, and the table parser."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ditree.eval.published import best_cost_matrix, load_published, median_with_inf, published_metrics
from envs.suites import has_suite, suite_dir


def test_metrics_follow_the_table_definitions():
    runs = [[[0.5, 30.0], [2.0, 20.0]], [[1.0, 25.0]], None, [[3.0, 22.0]]]
    m = published_metrics(runs, 10.0)
    assert m.p == 0.75
    # half the runs are solved first at t = 1 s: the median is then the lower middle value, 30
    assert (m.t_st, m.J_st) == (1.0, 30.0)
    # at the limit: sorted 20, 22, 25, inf -> mean of the middle two
    assert m.J_f == pytest.approx(23.5)
    assert m.cells() == "0.8 / 1.0 / 30.0 / 23.5"


def test_solutions_after_the_limit_do_not_count_and_no_median_without_half():
    m = published_metrics([[[5.0, 10.0]], [[50.0, 9.0]], None], 20.0)
    assert m.p == pytest.approx(1 / 3) and m.t_st == math.inf and math.isnan(m.J_f)
    assert published_metrics([], 10.0).p == 0.0


def test_best_cost_is_a_running_minimum_step_function():
    hist = [[[1.0, 5.0], [3.0, 4.0]]]
    m = best_cost_matrix(hist, np.array([0.5, 1.0, 2.9, 3.0, 9.0]))
    np.testing.assert_array_equal(m[0], [np.inf, 5.0, 5.0, 4.0, 4.0])
    np.testing.assert_array_equal(median_with_inf(np.array([[1.0], [np.inf], [3.0]])), [3.0])


@pytest.mark.requires_data("dynobench")
def test_published_table_parses_every_instance():
    table = load_published(suite_dir("dynobench") / "PUBLISHED.md")
    assert len(table) == 11 and has_suite("dynobench")
    idb = table[("car1_v0", "bugtrap_0")]["iDb-A*"]
    assert (idb.p, idb.t_st, idb.J_st, idb.J_f) == (1.0, 0.5, 19.3, 19.0)
    assert table[("unicycle1_v1", "kink_0")]["SST*"].t_st == 2.8


def test_bad_table_row_names_the_line(tmp_path):
    f = tmp_path / "P.md"
    f.write_text("| robot · instance | iDb-A* |\n|---|---|\n| car1_v0 · x | 1.0 / a / 2 / 3 |\n")
    with pytest.raises(ValueError, match=r"P.md:3: cell '1.0 / a / 2 / 3' of iDb-A\*"):
        load_published(f)
