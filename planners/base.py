"""The interface every planner implements, and the timing helper they share."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

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


COLLISION_BACKENDS = ("analytic", "pybullet")


def check_search_params(p: Any, probabilities: tuple[str, ...] = ("goal_bias",)) -> None:
    """Validate the fields the tree planners' parameter dataclasses share (``batch_size``,
    probabilities in [0, 1], ``collision_backend``, ``max_iterations``, ``tree_stride``,
    ``max_tree_edges``); errors name the dataclass and the field."""
    cls = type(p).__name__
    if p.batch_size < 1:
        raise ValueError(f"{cls}.batch_size must be >= 1, got {p.batch_size}")
    for name in probabilities:
        if not 0.0 <= getattr(p, name) <= 1.0:
            raise ValueError(f"{cls}.{name} must lie in [0, 1], got {getattr(p, name)}")
    if p.collision_backend not in COLLISION_BACKENDS:
        raise ValueError(f"{cls}.collision_backend must be 'analytic' or 'pybullet', got {p.collision_backend!r}")
    if p.max_iterations < 0 or p.tree_stride < 1 or p.max_tree_edges < 0:
        raise ValueError(f"{cls}.max_iterations and max_tree_edges must be >= 0, tree_stride >= 1")
    if not getattr(p, "connect_tol", 0.0) >= 0.0:
        raise ValueError(f"{cls}.connect_tol must be >= 0 (0: no goal connector), got {p.connect_tol}")


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
