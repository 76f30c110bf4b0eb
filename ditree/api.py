"""The Python API: plan a problem with any registered planner; every result is validated.

>>> from envs import validation_problem
>>> from ditree.api import plan
>>> result = plan(validation_problem("val_maze_small"), planner="rrt", time_limit=10, seed=0)
>>> result.success, result.validated   # a success is always validated (planners.validate)
"""

from __future__ import annotations

import time
from typing import Any

from ditree.registry import available_planners, make_planner
from envs.errors import DitreeInputError
from envs.problem import Problem
from planners.results import PlanResult
from planners.validate import finalize, validation_checker

__all__ = ["available_planners", "plan"]


def plan(problem: Problem, planner: str = "rrt", time_limit: float = 30.0, seed: int = 0, **params: Any) -> PlanResult:
    """Solve ``problem`` with the registered planner ``planner`` for at most ``time_limit`` seconds.

    ``params`` configure the planner (fields of its parameter dataclasses). The result passes
    through :func:`planners.validate.finalize` (re-simulated, PyBullet-checked at every 0.02 s
    step): a path that fails is reported as ``success=False`` with the reason. ``scenario``,
    ``map`` and ``suite`` are filled from ``problem.meta``, ``lower_bound_s`` from ``envs.lower_bound``,
    and ``setup_s`` is the time spent before ``time_s`` started: building the planner (loading its
    checkpoint, warming its network up, ...) and the validator's PyBullet scene of the problem's
    world (built once per world and process): a user of one call waits for both.
    """
    if not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise DitreeInputError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    t0 = time.perf_counter()
    p = make_planner(planner, **params)
    validation_checker(problem)  # the final check's PyBullet scene (cached per world), before the clock
    setup_s = time.perf_counter() - t0
    result = p.solve(problem, float(time_limit), int(seed))
    result.setup_s = setup_s
    result = finalize(problem, result)
    result.planner = result.planner or planner
    result.scenario = result.scenario or problem.meta.get("scenario") or problem.name
    result.map = result.map or problem.meta.get("map") or problem.world.name
    result.suite = result.suite or problem.meta.get("suite")
    if result.lower_bound_s is None:
        try:
            from envs.lower_bound import duration_lower_bound

            lb = duration_lower_bound(problem)
            result.lower_bound_s = lb if lb != float("inf") else None
        except (ImportError, ValueError):
            pass
    return result
