"""Shared test set-up: the ``requires_data`` marker.

Tests that read third-party benchmark data (the ``ditree_car`` maps and scenarios, dynobench) carry
``@pytest.mark.requires_data`` (default suite ``ditree_car``) or ``requires_data("dynobench")``,
per test or per module (``pytestmark``). Without the data directory (``envs.suites``) they are
skipped with a reason that says what to set; ``.ci/run`` insists on the data, so CI runs them.
"""

from __future__ import annotations

import pytest

from envs.suites import DATA_ENV, has_suite


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_data(*suites): needs these benchmark suites (default ditree_car) in the data directory"
    )


def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires_data"):
        missing = [s for s in (mark.args or ("ditree_car",)) if not has_suite(s)]
        if missing:
            pytest.skip(f"needs benchmark suite(s) {missing}: set {DATA_ENV} to the benchmark data directory")
