"""OMPL's own kinodynamic planners as baselines: ``oc.RRT``, ``oc.KPIECE1`` and ``oc.EST``.

Each runs on the set-up of the problem's robot, built from the robot registry by
:func:`envs.ompl_setup.make_setup` for any registered robot (the car: propagation step 0.1 s of 5
Euler sub-steps, every sub-step collision-checked; the racecar: physics rollouts of N = 1,
footprint checked every 0.02 s; both: control durations 0.1-1.0 s, KPIECE1 on the xy projection)
with OMPL's default planner parameters (goal bias 0.05) and uniformly random controls: the paper's
"RRT with random controls" baseline, from the reference implementation everybody knows.

The OMPL path is re-sampled at the robot's ``dt`` (0.02 s): a control lasting k sub-steps becomes
k identical rows of ``controls``, and ``states`` are re-simulated from the start with the batched
model (``robot.rollout``), then cut at the first state inside the goal region. Only exact
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
from envs.ompl_setup import OmplSettings, OmplSetup, make_setup, ompl_seed, quiet_ompl
from envs.problem import Problem
from planners.base import Profiler
from planners.results import PlanResult, empty_path

#: algorithm name -> OMPL planner class
ALGORITHMS = {"rrt": oc.RRT, "kpiece": oc.KPIECE1, "est": oc.EST}


@dataclass(frozen=True)
class OmplPlannerSettings:
    """Settings of the OMPL baselines.

    ``setup``: how the robot is posed to OMPL (:class:`~envs.ompl_setup.OmplSettings`; the car's
    defaults: docs/platform.md, 'The OMPL set-up of the car'). ``collision_backend``: ``"analytic"`` or ``"pybullet"``. ``count_nodes``: after
    planning (outside ``time_s``), read OMPL's ``PlannerData`` to count tree nodes; this can take
    tens of seconds on large trees, so it is off by default and ``nodes`` is then 0.
    """

    setup: OmplSettings = field(default_factory=OmplSettings)
    collision_backend: str = "analytic"
    count_nodes: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.setup, OmplSettings):
            raise TypeError(f"OmplPlannerSettings.setup must be an OmplSettings, got {type(self.setup).__name__}")
        if self.collision_backend not in ("analytic", "pybullet"):
            raise ValueError(
                f"OmplPlannerSettings.collision_backend must be 'analytic' or 'pybullet', got {self.collision_backend!r}"
            )


def _with_overrides(settings: OmplPlannerSettings, overrides: dict[str, Any]) -> OmplPlannerSettings:
    if not overrides:
        return settings
    own = {k: v for k, v in overrides.items() if k in OmplPlannerSettings.__dataclass_fields__}
    setup = {k: v for k, v in overrides.items() if k in OmplSettings.__dataclass_fields__}
    unknown = sorted(set(overrides) - set(own) - set(setup))
    if unknown:
        known = sorted(
            set(OmplPlannerSettings.__dataclass_fields__) - {"setup"} | set(OmplSettings.__dataclass_fields__)
        )
        raise ValueError(f"unknown OMPL planner parameter(s) {unknown}; known: {known}")
    if setup:
        own["setup"] = replace(own.get("setup", settings.setup), **setup)
    return replace(settings, **own)


def resample_path(cs: OmplSetup, path: oc.PathControl, trim_at_goal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """An OMPL control path as ``(states (T+1, S), controls (T, C))`` at the robot's ``dt``.

    Controls are repeated over their duration; states are re-simulated from the problem's start
    with the batched model. With ``trim_at_goal`` the path ends at its first state in the goal
    region (OMPL checks the goal only at the end of each motion).
    """
    problem = cs.problem
    controls = cs.path_controls(path)
    states = problem.robot.rollout(problem.start[None], controls[None])[0]
    if trim_at_goal and len(controls):
        inside = problem.goal_region.reached(states[1:])
        if inside.any():
            t = int(np.argmax(inside)) + 1
            states, controls = states[: t + 1], controls[:t]
    return states, controls


class OmplControlPlanner:
    """One of OMPL's control planners behind the :class:`~planners.base.Planner` protocol.

    ``algorithm``: ``"rrt"`` (oc.RRT), ``"kpiece"`` (oc.KPIECE1) or ``"est"`` (oc.EST). The
    registry name is ``ompl-<algorithm>``. Keyword overrides update ``settings``, including the
    fields of its ``setup`` settings: ``OmplControlPlanner("kpiece", propagation_step=0.02)``.
    Plans for any registered robot (``envs.registry``).
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
            checker = make_checker(problem.world, problem.robot.bodies, backend=s.collision_backend)
            with quiet_ompl(ou.LOG_WARN):
                cs = make_setup(problem, s.setup, checker)
                planner = ALGORITHMS[self.algorithm](cs.si)
                cs.ss.setPlanner(planner)
                cs.ss.setup()
        try:
            return self._plan(problem, cs, planner, time_limit, seed, t_begin, prof)
        finally:
            if hasattr(checker, "close"):
                checker.close()

    def _plan(
        self, problem: Problem, cs: OmplSetup, planner, time_limit: float, seed: int, t_begin: float, prof: Profiler
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
                    unit = " m" if problem.goal_region.kind == "disc" else ""
                    reason += f"; closest approach {gap:.2f}{unit} from the goal region"
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
