"""Shared fixtures of every test package."""

from __future__ import annotations

import pytest
from two_body_robot import TrailerCar  # tests/ is on sys.path: pytest inserts this conftest's folder


@pytest.fixture
def trailer_car() -> TrailerCar:
    return TrailerCar()
