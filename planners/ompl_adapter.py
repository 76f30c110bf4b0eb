"""Run any of our Python planners inside OMPL: :class:`OmplPlannerAdapter` is an ``ob.Planner``.

With it, a planner that follows the :class:`~planners.base.Planner` protocol (``solve(problem,
time_limit, seed) -> PlanResult``) works in OMPL's ``oc.SimpleSetup`` and ``ompl.tools.Benchmark``
next to OMPL's own planners, so that a benchmark log (and the Planner Arena database made from it
by ``ompl_benchmark_statistics``) compares them under one protocol::

    cs = make_setup(problem, EXACT_CHECK_SETTINGS)   # envs.ompl_setup, any registered robot
    bench = ompl.tools.Benchmark(cs.ss, "val_maze_small")
    bench.addPlanner(OmplPlannerAdapter(cs, KinodynamicRRT(), time_limit=30.0))
    bench.addPlanner(oc.KPIECE1(cs.si))
    bench.benchmark(ompl.tools.Request(maxTime=30.0, runCount=20, saveConsoleOutput=False))
    bench.saveResultsToFile("val_maze_small.log")
    # then: python -m ompl.ompl_benchmark_statistics -d val_maze_small.db val_maze_small.log

(``saveConsoleOutput=True``, OMPL's default, writes an ``ompl_<host>_<date>.console`` file into
the working directory.)

How a solve works: the start comes from ``getPlannerInputStates().nextStart()`` (never
``pdef.getStartState``: that hands ownership to Python, a double free at exit), the goal from the
problem definition's :class:`~envs.ompl_setup.XYGoalRegion` (its ``region``, a disc or a state
goal); the wrapped planner runs for the
adapter's ``time_limit`` (our planners take a time budget, not a termination condition, so set it
to the benchmark's ``maxTime``); its path becomes an ``oc.PathControl`` (runs of identical 0.02 s
controls merged into one control) reported with ``pdef.addSolutionPath``; the status is
``EXACT_SOLUTION`` or ``TIMEOUT``. Every :class:`PlanResult` is kept in ``results``.

``getPlannerData`` is deliberately NOT overridden: a Python override aborts the process when
OMPL's C++ calls it (docs/platform.md, 'Other traps'); the tree stays in the PlanResult.

OMPL's ``PathControl.check()`` (the "correct solution" column of benchmark logs) re-propagates each
control for ``round(duration / propagation step)`` steps, so it checks our 0.02 s controls exactly
only when the propagation step is 0.02 s: use :data:`EXACT_CHECK_SETTINGS` for such benchmarks
(OMPL's own planners run with it too: the same 0.1-1.0 s control durations, in steps of 0.02 s,
but with five times as many Python callbacks per second of motion, so they run slower than with the
default 0.1 s step: compare OMPL's planners at their best in a separate benchmark).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

from ompl import base as ob
from ompl import util as ou

from envs.ompl_setup import OmplSettings, OmplSetup, XYGoalRegion
from envs.problem import Problem
from planners.base import Planner
from planners.results import PlanResult

#: settings under which OMPL's ``PathControl.check()`` is exact for adapter paths of a robot whose
#: dt is 0.02 s (the car, the racecar): propagation step = dt, control durations 0.1-1.0 s as in
#: the default settings
EXACT_CHECK_SETTINGS = OmplSettings(propagation_step=0.02, min_control_steps=5, max_control_steps=50)

_MAX_SEED = 2**31 - 2


class OmplPlannerAdapter(ob.Planner):
    """An OMPL planner that runs ``planner`` (our Planner protocol) on an
    :class:`~envs.ompl_setup.OmplSetup` (``ompl_setup``) of any registered robot.

    ``time_limit`` (s): the budget handed to ``planner.solve`` on every OMPL ``solve`` call.
    ``seed``: with an int, the k-th solve (k = 0, 1, ...) uses ``seed + k``; with None, each solve
    draws its seed from an OMPL RNG created here, so ``ou.RNG.setSeed`` before construction makes a
    whole benchmark reproducible. ``name``: the OMPL planner name (default ``planner.name``).
    """

    def __init__(
        self,
        ompl_setup: OmplSetup,
        planner: Planner,
        time_limit: float,
        seed: int | None = None,
        name: str | None = None,
        merge_controls: bool = True,
    ) -> None:
        if not (isinstance(time_limit, (int, float)) and math.isfinite(time_limit) and time_limit > 0):
            raise ValueError(f"OmplPlannerAdapter.time_limit must be a positive number of seconds, got {time_limit!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"OmplPlannerAdapter.seed must be a non-negative int or None, got {seed!r}")
        super().__init__(ompl_setup.si, name or planner.name)
        self.ompl_setup = ompl_setup
        self.planner = planner
        self.time_limit = float(time_limit)
        self.seed = seed
        self.merge_controls = merge_controls
        self.results: list[PlanResult] = []
        self._solves = 0
        self._rng = ou.RNG()
        self._warned = False

    @property
    def last_result(self) -> PlanResult | None:
        return self.results[-1] if self.results else None

    def setup(self) -> None:
        ob.Planner.setup(self)
        if not self._warned and abs(self.ompl_setup.si.getPropagationStepSize() - self.ompl_setup.dt) > 1e-12:
            self._warned = True
            warnings.warn(
                f"{self.getName()}: propagation step {self.ompl_setup.si.getPropagationStepSize()} s is not the robot's dt "
                f"{self.ompl_setup.dt} s, so OMPL's PathControl.check() of this planner's paths is approximate; build the "
                "set-up with planners.ompl_adapter.EXACT_CHECK_SETTINGS for an exact check",
                stacklevel=2,
            )

    def clear(self) -> None:
        ob.Planner.clear(self)  # our planners keep no state between solves; results stay

    def _next_seed(self) -> int:
        k = self._solves
        self._solves += 1
        if self.seed is not None:
            return self.seed + k
        return int(self._rng.uniformInt(0, _MAX_SEED))

    def _problem(self, start: ob.State) -> Problem | None:
        goal = self.getProblemDefinition().getGoal()
        if not isinstance(goal, XYGoalRegion):
            return None
        base = self.ompl_setup.problem
        return replace(base, start=self.ompl_setup.to_array(start), goal=goal.region, goal_region=None)

    def solve(self, ptc: ob.PlannerTerminationCondition) -> ob.PlannerStatus:
        """Run the wrapped planner once; report an exact path or ``TIMEOUT``."""
        start = self.getPlannerInputStates().nextStart()
        if start is None:
            return ob.PlannerStatus(ob.PlannerStatus.INVALID_START)
        try:
            problem = self._problem(start)
        except ValueError:  # the start lies in a wall or outside the map (Problem validates it)
            return ob.PlannerStatus(ob.PlannerStatus.INVALID_START)
        if problem is None:
            return ob.PlannerStatus(ob.PlannerStatus.UNRECOGNIZED_GOAL_TYPE)
        result = self.planner.solve(problem, self.time_limit, self._next_seed())
        self.results.append(result)
        if not result.success or len(result.states) == 0:
            return ob.PlannerStatus(ob.PlannerStatus.TIMEOUT)
        path = self.ompl_setup.path_from_arrays(result.states, result.controls, merge=self.merge_controls)
        self.getProblemDefinition().addSolutionPath(path, False, 0.0, self.getName())
        return ob.PlannerStatus(ob.PlannerStatus.EXACT_SOLUTION)
