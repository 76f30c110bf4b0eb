"""The PyBullet racecar as an OMPL control problem (ompl==2.0.1, nanobind bindings).

:func:`make_racecar_setup` builds, for a :class:`~envs.problem.Problem` whose robot is a
:class:`~envs.racecar.Racecar`, what OMPL's control planners need, on the pattern of
:mod:`envs.ompl_car`:

- state space: the 24-D state as a compound of SE2 ``(x, y, yaw)`` (map bounds, weight
  ``pose_weight``) and R^21 for the rest (``z, roll, pitch``, velocities and joint states, generous
  bounds, weight ``rest_weight``), with the xy projection registered as the default projection
  (KPIECE1 needs one). Every component is a real number; the split only lets the distance weigh the
  pose above the 21 dynamic components (wheel angles grow without bound as the wheels turn, and
  with one flat weight they would swamp nearest-neighbour distances);
- control space: R^2 ``(wheel_speed, steer)`` within the racecar's control bounds;
- a state propagator that runs :meth:`Racecar.rollout` with N = 1 for the duration (control
  periods of ``robot.dt`` = 0.02 s) and checks the footprint (``robot.pose``) at EVERY period; on
  the first colliding (or out-of-map) state it stops and returns that state, which the validity
  checker then rejects (OMPL checks validity only at the end of a propagation step: docs/platform.md,
  'OMPL checks validity only at propagation steps');
- a validity checker from the same :class:`~envs.collision.CollisionChecker` plus the bounds;
- :class:`RacecarGoalRegion`, a goal region on xy distance with threshold ``problem.goal_radius``.

Conversion: :meth:`OmplRacecarSetup.to_array` (OMPL -> ``(24,)``), :meth:`OmplRacecarSetup.to_state`
(numpy -> OMPL), :meth:`OmplRacecarSetup.path_arrays` / :meth:`OmplRacecarSetup.path_controls`
(the same names as :class:`envs.ompl_car.OmplCarSetup`, so ``planners.ompl_baselines`` drives both).

Traps handled as in :mod:`envs.ompl_car`: seed with ``ou.RNG.setSeed`` before calling
:func:`make_racecar_setup`; never call ``pdef.getStartState``; ask the default projection for
nothing before ``ss.setup()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ompl import base as ob
from ompl import control as oc
from ompl import util as ou

from envs.collision import CollisionChecker, make_checker
from envs.ompl_car import (
    OmplSE2Setup,
    PropagationCache,
    XYGoalRegion,
    check_propagation_settings,
    control_space_information,
    first_invalid,
)
from envs.problem import Problem

__all__ = ["REST_HIGH", "REST_LOW", "OmplRacecarSettings", "OmplRacecarSetup", "RacecarGoalRegion", "make_racecar_setup"]

STATE_DIM = 24
# bounds of state components 3..23 (z, roll, pitch, v_xyz, w_xyz, 6 joint angles, 6 joint rates):
# generous, so that no state the physics reaches is out of bounds (wheel angles accumulate: 60 rad/s
# for 10 min is 36,000 rad)
REST_LOW = np.array([-1.0, -math.pi, -math.pi] + [-20.0] * 3 + [-100.0] * 3 + [-1e6] * 6 + [-1e3] * 6)
REST_HIGH = -REST_LOW
REST_HIGH[0] = 2.0


@dataclass(frozen=True)
class OmplRacecarSettings:
    """How the racecar is posed to OMPL.

    ``propagation_step`` (s) must be a whole multiple of the racecar's ``dt`` (0.02 s); controls
    last ``min_control_steps``..``max_control_steps`` propagation steps (0.1-1.0 s by default, as
    for the car). ``pose_weight`` / ``rest_weight`` weigh the SE2 and the other 21 components in
    the state distance.
    """

    propagation_step: float = 0.1
    min_control_steps: int = 1
    max_control_steps: int = 10
    pose_weight: float = 1.0
    rest_weight: float = 0.01

    def __post_init__(self) -> None:
        check_propagation_settings(self, ("pose_weight", "rest_weight"))


class RacecarGoalRegion(XYGoalRegion):
    """:class:`~envs.ompl_car.XYGoalRegion` for the racecar: the other 21 components are those
    of ``rest`` ``(21,)`` (the racecar settled at rest)."""

    def __init__(self, si: oc.SpaceInformation, goal_xy: np.ndarray, radius: float, rest: np.ndarray) -> None:
        super().__init__(si, goal_xy, radius)
        self._rest = [float(v) for v in rest]

    def sample_rest(self, rv, rng: ou.RNG) -> None:
        for i, v in enumerate(self._rest):
            rv[i] = v


@dataclass
class OmplRacecarSetup(OmplSE2Setup):
    """:class:`~envs.ompl_car.OmplSE2Setup` for the racecar: SE2 x R^21; ``substeps`` are control
    periods per propagation step and every propagation is checked (``checked_propagations``)."""

    @staticmethod
    def to_list(state: ob.State) -> list[float]:
        """OMPL state -> the 24 state components in ``Racecar.state_names`` order (plain floats)."""
        se2, rv = state[0], state[1]
        return [se2.getX(), se2.getY(), se2.getYaw(), *(rv[i] for i in range(STATE_DIM - 3))]

    @staticmethod
    def write(state: ob.State, x) -> ob.State:
        """Write ``x`` ``(24,)`` into the OMPL ``state`` in place and return it."""
        se2, rv = state[0], state[1]
        se2.setXY(float(x[0]), float(x[1]))
        se2.setYaw(float(x[2]))
        for i in range(STATE_DIM - 3):
            rv[i] = float(x[3 + i])
        return state


def _space(problem: Problem, settings: OmplRacecarSettings) -> ob.CompoundStateSpace:
    x0, x1, y0, y1 = problem.world.bounds
    se2 = ob.SE2StateSpace()
    b = ob.RealVectorBounds(2)
    b.setLow(0, x0)
    b.setHigh(0, x1)
    b.setLow(1, y0)
    b.setHigh(1, y1)
    se2.setBounds(b)
    rest = ob.RealVectorStateSpace(STATE_DIM - 3)
    rb = ob.RealVectorBounds(STATE_DIM - 3)
    for i, (lo, hi) in enumerate(zip(REST_LOW, REST_HIGH)):
        rb.setLow(i, float(lo))
        rb.setHigh(i, float(hi))
    rest.setBounds(rb)
    space = ob.CompoundStateSpace()
    space.addSubspace(se2, settings.pose_weight)
    space.addSubspace(rest, settings.rest_weight)
    # xy of the SE2 component: SE2's own default projection, reached through subspace 0
    space.registerDefaultProjection(ob.SubspaceProjectionEvaluator(space, 0))
    return space


def make_racecar_setup(
    problem: Problem,
    settings: OmplRacecarSettings | None = None,
    checker: CollisionChecker | None = None,
) -> OmplRacecarSetup:
    """An :class:`OmplRacecarSetup` for ``problem`` (start and goal set, no planner chosen).

    ``problem.robot`` must be a racecar (24-D state). ``checker`` defaults to the analytic checker
    of ``problem.world`` with the racecar's footprint. Call ``ou.RNG.setSeed`` before this for a
    deterministic run.
    """
    settings = settings if settings is not None else OmplRacecarSettings()
    robot = problem.robot
    if robot.name != "racecar" or robot.state_dim != STATE_DIM:
        raise ValueError(f"make_racecar_setup needs a racecar problem, got robot {robot.name!r}")
    checker = checker if checker is not None else make_checker(problem.world, robot.footprint)
    space = _space(problem, settings)
    substeps, cspace, si, ss = control_space_information(problem, space, settings, "OmplRacecarSettings")
    bounds = problem.world.bounds
    dt = robot.dt
    rollout, pose, collides = robot.rollout, robot.pose, checker.collides
    counters = {"propagations": 0, "checked_propagations": 0, "validity_checks": 0}
    cache = PropagationCache()

    def propagate(start: ob.State, control: oc.Control, duration: float, result: ob.State) -> None:
        counters["propagations"] += 1
        counters["checked_propagations"] += 1
        n = max(1, round(duration / dt))
        x0 = np.array([OmplRacecarSetup.to_list(start)])
        u = np.empty((1, n, 2))
        u[..., 0], u[..., 1] = control[0], control[1]
        traj = rollout(x0, u)[0, 1:]  # (n, 24)
        bad = first_invalid(pose(traj), collides, bounds)
        OmplRacecarSetup.write(result, traj[bad] if bad >= 0 else traj[-1])  # the first colliding state: OMPL rejects it
        cache.record(result, bad < 0)

    is_valid = cache.validity_checker(si, collides, counters)
    si.setStatePropagator(propagate)
    si.setStateValidityChecker(is_valid)
    si.setPropagationStepSize(settings.propagation_step)
    si.setMinMaxControlDuration(settings.min_control_steps, settings.max_control_steps)

    rest = np.asarray(robot.rest_state(0.0, 0.0, 0.0), dtype=float)[3:]
    goal = RacecarGoalRegion(si, problem.goal, problem.goal_radius, rest)
    setup = OmplRacecarSetup(problem, settings, checker, space, cspace, si, ss, goal, substeps, counters)
    setup._keep += [propagate, is_valid]
    ss.setStartState(setup.to_state(problem.start))
    ss.setGoal(goal)
    return setup
