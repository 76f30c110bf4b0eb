"""The interface every planner implements, and the timing helper they share."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from envs.problem import Problem
from planners.results import PlanResult


@runtime_checkable
class Planner(Protocol):
    """A motion planner: ``solve`` returns a :class:`PlanResult` within ``time_limit`` (+0.5 s).

    ``name`` is the registry name written into results. Planners are configured at construction
    (a frozen dataclass of parameters) and hold no state between ``solve`` calls that would make
    two calls with the same seed differ.
    """

    name: str

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult: ...


class Profiler:
    """Accumulates wall-clock seconds per phase: ``with prof("collision"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t0

    def as_dict(self) -> dict[str, float]:
        return dict(self.seconds)
