"""OMPL's own kinodynamic planners as baselines: ``oc.RRT``, ``oc.KPIECE1`` and ``oc.EST``.

Each runs on the set-up of the problem's robot: the racecar's is :mod:`envs.ompl_racecar` (physics
rollouts of N = 1, footprint checked every 0.02 s; same propagation step and control durations as
the car's); the car's is :mod:`envs.ompl_car` (propagation step 0.1 s of 5 Euler sub-steps,
every sub-step collision-checked; control durations 0.1-1.0 s; KPIECE1 on the xy projection) with
OMPL's default planner parameters (goal bias 0.05) and uniformly random controls: the paper's
"RRT with random controls" baseline, from the reference implementation everybody knows.

The OMPL path is re-sampled at the car's ``dt`` (0.02 s): a control lasting k sub-steps becomes
k identical rows of ``controls``, and ``states`` are re-simulated from the start with the batched
model (:meth:`Car.rollout`), then cut at the first state inside the goal disc. Only exact
solutions count as success. The result is not validated here (``planners.validate`` does that for
every planner).

Determinism: the OMPL seed is ``seed + 1`` (OMPL maps 0 to 1), set with ``ou.RNG.setSeed`` before
any OMPL object of the run is created; the same seed gives the same path for all three planners
(checked in tests/planners/test_ompl_baselines.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from ompl import base as ob
from ompl import control as oc
from ompl import util as ou

from envs.collision import make_checker
from envs.ompl_car import OmplCarSettings, OmplCarSetup, make_car_setup, ompl_seed, quiet_ompl
from envs.problem import Problem
from planners.base import Profiler
from planners.results import PlanResult, empty_path

#: algorithm name -> OMPL planner class
ALGORITHMS = {"rrt": oc.RRT, "kpiece": oc.KPIECE1, "est": oc.EST}


@dataclass(frozen=True)
class OmplPlannerSettings:
    """Settings of the OMPL baselines.

    ``car``: how the car is posed to OMPL (:class:`OmplCarSettings`, defaults: docs/platform.md,
    'The OMPL set-up of the car'). ``collision_backend``: ``"analytic"`` or ``"pybullet"``. ``count_nodes``: after
    planning (outside ``time_s``), read OMPL's ``PlannerData`` to count tree nodes; this can take
    tens of seconds on large trees, so it is off by default and ``nodes`` is then 0.
    """

    car: OmplCarSettings = field(default_factory=OmplCarSettings)
    collision_backend: str = "analytic"
    count_nodes: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.car, OmplCarSettings):
            raise TypeError(f"OmplPlannerSettings.car must be an OmplCarSettings, got {type(self.car).__name__}")
        if self.collision_backend not in ("analytic", "pybullet"):
            raise ValueError(
                f"OmplPlannerSettings.collision_backend must be 'analytic' or 'pybullet', got {self.collision_backend!r}"
            )


def _with_overrides(settings: OmplPlannerSettings, overrides: dict[str, Any]) -> OmplPlannerSettings:
    if not overrides:
        return settings
    own = {k: v for k, v in overrides.items() if k in OmplPlannerSettings.__dataclass_fields__}
    car = {k: v for k, v in overrides.items() if k in OmplCarSettings.__dataclass_fields__}
    unknown = sorted(set(overrides) - set(own) - set(car))
    if unknown:
        known = sorted(
            set(OmplPlannerSettings.__dataclass_fields__) - {"car"} | set(OmplCarSettings.__dataclass_fields__)
        )
        raise ValueError(f"unknown OMPL planner parameter(s) {unknown}; known: {known}")
    if car:
        own["car"] = replace(own.get("car", settings.car), **car)
    return replace(settings, **own)


def _make_setup(problem: Problem, car: OmplCarSettings, checker) -> Any:
    """The OMPL set-up of ``problem.robot`` (by name): :mod:`envs.ompl_car` for the car,
    :mod:`envs.ompl_racecar` for the racecar, which takes the car settings' propagation step and
    control durations."""
    name = problem.robot.name
    if name == "car":
        return make_car_setup(problem, car, checker)
    if name == "racecar":
        from envs.ompl_racecar import OmplRacecarSettings, make_racecar_setup

        rc = OmplRacecarSettings(propagation_step=car.propagation_step, min_control_steps=car.min_control_steps,
                                 max_control_steps=car.max_control_steps)
        return make_racecar_setup(problem, rc, checker)
    raise ValueError(f"no OMPL set-up for robot {name!r} (known: car, racecar)")


def resample_path(cs: Any, path: oc.PathControl, trim_at_goal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """An OMPL control path as ``(states (T+1, S), controls (T, 2))`` at the robot's ``dt``
    (``cs``: an :class:`OmplCarSetup` or an ``envs.ompl_racecar.OmplRacecarSetup``).

    Controls are repeated over their duration; states are re-simulated from the problem's start
    with the batched model. With ``trim_at_goal`` the path ends at its first state in the goal
    disc (OMPL checks the goal only at the end of each motion).
    """
    problem = cs.problem
    controls = cs.path_controls(path)
    states = problem.robot.rollout(problem.start[None], controls[None])[0]
    if trim_at_goal and len(controls):
        inside = np.sum((states[1:, :2] - problem.goal) ** 2, axis=1) <= problem.goal_radius**2
        if inside.any():
            t = int(np.argmax(inside)) + 1
            states, controls = states[: t + 1], controls[:t]
    return states, controls


class OmplControlPlanner:
    """One of OMPL's control planners behind the :class:`~planners.base.Planner` protocol.

    ``algorithm``: ``"rrt"`` (oc.RRT), ``"kpiece"`` (oc.KPIECE1) or ``"est"`` (oc.EST). The
    registry name is ``ompl-<algorithm>``. Keyword overrides update ``settings``, including the
    fields of its ``car`` settings: ``OmplControlPlanner("kpiece", propagation_step=0.02)``.
    """

    def __init__(
        self, algorithm: str, settings: OmplPlannerSettings | None = None, *, name: str | None = None, **overrides: Any
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown OMPL algorithm {algorithm!r}; choose one of {sorted(ALGORITHMS)}")
        self.algorithm = algorithm
        self.settings = _with_overrides(settings if settings is not None else OmplPlannerSettings(), overrides)
        self.name = name or f"ompl-{algorithm}"

    def __repr__(self) -> str:
        return f"OmplControlPlanner({self.algorithm!r}, settings={self.settings})"

    def solve(self, problem: Problem, time_limit: float, seed: int) -> PlanResult:
        """Plan for at most ``time_limit`` seconds (set-up included); not validated here."""
        if not time_limit > 0:
            raise ValueError(f"time_limit must be positive, got {time_limit!r}")
        t_begin = time.perf_counter()
        s = self.settings
        prof = Profiler()
        with prof("setup"):
            with quiet_ompl():  # re-seeding logs an error that does not apply: we re-create everything
                ou.RNG.setSeed(ompl_seed(seed))
            checker = make_checker(problem.world, problem.robot.footprint, backend=s.collision_backend)
            with quiet_ompl(ou.LOG_WARN):
                cs = _make_setup(problem, s.car, checker)
                planner = ALGORITHMS[self.algorithm](cs.si)
                cs.ss.setPlanner(planner)
                cs.ss.setup()
        try:
            return self._plan(problem, cs, planner, time_limit, seed, t_begin, prof)
        finally:
            if hasattr(checker, "close"):
                checker.close()

    def _plan(
        self, problem: Problem, cs: OmplCarSetup, planner, time_limit: float, seed: int, t_begin: float, prof: Profiler
    ) -> PlanResult:
        remaining = time_limit - (time.perf_counter() - t_begin)
        status_name = "TIMEOUT"
        if remaining > 0:
            with prof("plan"), quiet_ompl(ou.LOG_WARN):
                status = cs.ss.solve(remaining)
            status_name = status.getStatus().name
        exact = status_name == "EXACT_SOLUTION" and cs.ss.haveExactSolutionPath()
        states, controls = empty_path(problem.robot)
        extra: dict = {"algorithm": self.algorithm, "ompl_status": status_name, "ompl_seed": ompl_seed(seed)}
        reason = ""
        with prof("extract"):
            if exact:
                states, controls = resample_path(cs, cs.ss.getSolutionPath())
            else:
                reason = f"no exact solution within {time_limit:g} s (OMPL status {status_name})"
                if cs.ss.haveSolutionPath():
                    gap = float(cs.pdef.getSolutionDifference())
                    extra["approximate_goal_distance_m"] = gap
                    reason += f"; closest approach {gap:.2f} m from the goal region"
        elapsed = time.perf_counter() - t_begin
        prof.seconds["total"] = elapsed
        nodes = 0
        if self.settings.count_nodes:  # outside the timed part on purpose
            data = ob.PlannerData(cs.si)
            planner.getPlannerData(data)
            nodes = int(data.numVertices())
        extra["settings"] = asdict(self.settings)
        return PlanResult(
            success=exact,
            planner=self.name,
            seed=seed,
            time_s=elapsed,
            iterations=0,  # OMPL's control planners do not expose an iteration count
            nodes=nodes,
            dt=problem.robot.dt,
            states=states,
            controls=controls,
            reason=reason,
            profile=prof.as_dict(),
            counters=dict(cs.counters),
            robot=problem.robot.name,
            scenario=problem.name,
            map=problem.world.name,
            extra=extra,
        )
