"""Session set-up shared by all tests: the README's example of a user's own robot
(``examples/unicycle.py``, outside the package) is imported, so it is registered before any test
module is collected and every test parametrized over ``registered_robots()`` runs on it too."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.append(str(EXAMPLES))

import pytest
import unicycle  # noqa: F401  (registers "unicycle")
from two_body_robot import TrailerCar  # tests/ is on sys.path: pytest inserts this conftest's folder


@pytest.fixture
def trailer_car() -> TrailerCar:
    return TrailerCar()
