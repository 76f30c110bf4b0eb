"""Shared test set-up.

- The README's example of a user's own robot (``examples/unicycle.py``, outside the package) is
  imported, so it is registered before any test module is collected and every test parametrized
  over ``registered_robots()`` runs on it too.
- The ``requires_data`` marker: tests that read third-party benchmark data (the ``ditree_car``
  maps and scenarios, dynobench) carry ``@pytest.mark.requires_data`` (default suite ``ditree_car``)
  or ``requires_data("dynobench")``, per test or per module (``pytestmark``). Without the data
  directory (``envs.suites``) they are skipped with a reason that says what to set; ``.ci/run``
  insists on the data, so CI runs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envs.suites import DATA_ENV, has_suite

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.append(str(EXAMPLES))

import unicycle  # noqa: F401  (registers "unicycle")
from two_body_robot import TrailerCar


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "requires_data(*suites): needs these benchmark suites (default ditree_car) in the data directory"
    )


def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires_data"):
        missing = [s for s in (mark.args or ("ditree_car",)) if not has_suite(s)]
        if missing:
            pytest.skip(f"needs benchmark suite(s) {missing}: set {DATA_ENV} to the benchmark data directory")


@pytest.fixture
def trailer_car() -> TrailerCar:
    return TrailerCar()
