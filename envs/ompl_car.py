"""The car as an OMPL control problem (ompl==2.0.1, nanobind bindings).

:func:`make_car_setup` builds, for a :class:`~envs.problem.Problem`, everything OMPL's control
planners need:

- state space: compound SE2 (map bounds, weight 1.0) x R^3 ``(v, D, delta)`` (car bounds, weight
  0.3), with the xy projection registered as the default projection (KPIECE1 needs one);
- control space: R^2 ``(dD, ddelta)`` within the car's control bounds;
- a state propagator that integrates :meth:`Car.step_scalar` in Euler sub-steps of ``robot.dt``
  (0.02 s; a propagation step of 0.1 s is 5 sub-steps) and checks the footprint at EVERY sub-step.
  OMPL checks validity only at the end of a propagation step, so on the first colliding sub-step
  the propagator stops and returns that colliding state, which the validity checker then rejects
  (without this most OMPL paths cut through wall corners between steps; see docs/platform.md, 'OMPL checks
  validity only at propagation steps');
- a validity checker from the same :class:`~envs.collision.CollisionChecker` (analytic by default)
  plus the state-space bounds;
- :class:`CarGoalRegion`, a goal region on xy distance with threshold ``problem.goal_radius``.

State conversion: :meth:`OmplCarSetup.to_array` (OMPL -> ``(6,)`` numpy) and
:meth:`OmplCarSetup.to_state` (numpy -> OMPL). :meth:`OmplCarSetup.path_arrays` unpacks an
``oc.PathControl`` and :meth:`OmplCarSetup.path_from_arrays` builds one.

Traps of these bindings handled here (docs/platform.md, 'Other traps'): seed with ``ou.RNG.setSeed`` before calling
:func:`make_car_setup` (the goal sampler draws its own RNG at construction); never call
``pdef.getStartState`` (it hands ownership to Python: double free at exit); do not ask the default
projection for anything before ``ss.setup()`` (the subspace projection segfaults until set up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ompl import base as ob
from ompl import control as oc
from ompl import util as ou

from envs.collision import CollisionChecker, make_checker
from envs.problem import Problem

__all__ = ["CarGoalRegion", "OmplCarSettings", "OmplCarSetup", "make_car_setup", "ompl_seed", "quiet_ompl"]


def check_propagation_settings(settings: Any, positive: tuple[str, ...] = ()) -> None:
    """Validate an OMPL settings dataclass: ``propagation_step`` > 0, integer control durations
    ``1 <= min_control_steps <= max_control_steps``, and the ``positive`` fields > 0; errors name
    the class and field."""
    label = type(settings).__name__
    if not settings.propagation_step > 0:
        raise ValueError(f"{label}.propagation_step must be positive, got {settings.propagation_step}")
    lo, hi = settings.min_control_steps, settings.max_control_steps
    if not (isinstance(lo, int) and lo >= 1):
        raise ValueError(f"{label}.min_control_steps must be an int >= 1, got {lo!r}")
    if not (isinstance(hi, int) and hi >= lo):
        raise ValueError(f"{label}.max_control_steps must be an int >= min_control_steps ({lo}), got {hi!r}")
    for name in positive:
        if not getattr(settings, name) > 0:
            raise ValueError(f"{label}.{name} must be positive, got {getattr(settings, name)}")


@dataclass(frozen=True)
class OmplCarSettings:
    """How the car is posed to OMPL; defaults: docs/platform.md, 'The OMPL set-up of the car'.

    ``propagation_step`` (s) must be a whole multiple of the car's ``dt`` (0.02 s); controls last
    ``min_control_steps``..``max_control_steps`` propagation steps (0.1-1.0 s by default).
    ``se2_weight`` / ``velocity_weight`` weigh the SE2 and ``(v, D, delta)`` parts of the distance.
    ``broad_phase``: before asking the collision checker, the propagator looks the sub-step
    positions up in a clearance table (``envs.pybullet_world.ClearanceField``, exact certificates):
    a sub-step whose position is farther than the footprint's circumradius from every wall is free.
    Only motions with a sub-step near a wall reach the checker; the answers are the same, about 2-3x
    cheaper per propagation.
    """

    propagation_step: float = 0.1
    min_control_steps: int = 1
    max_control_steps: int = 10
    se2_weight: float = 1.0
    velocity_weight: float = 0.3
    broad_phase: bool = True

    def __post_init__(self) -> None:
        check_propagation_settings(self, ("se2_weight", "velocity_weight"))


def ompl_seed(seed: int) -> int:
    """The OMPL seed used for our ``seed`` (>= 0): ``seed + 1``, because OMPL maps seed 0 to 1 and
    seeds 0 and 1 would otherwise give the same run."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed) + 1


class quiet_ompl:
    """Context manager that silences OMPL's logging (restores the previous level on exit)."""

    def __init__(self, level: Any = ou.LOG_NONE) -> None:
        self.level = level

    def __enter__(self) -> None:
        self._old = ou.getLogLevel()
        ou.setLogLevel(self.level)

    def __exit__(self, *exc: object) -> None:
        ou.setLogLevel(self._old)


class XYGoalRegion(ob.GoalSampleableRegion):
    """Goal for robots whose OMPL state is SE2 x R^k: xy within ``radius`` (m) of ``goal_xy``,
    everything else free. ``sampleGoal`` draws a position uniformly in the disc and a uniform
    heading, and leaves the R^k part to :meth:`sample_rest`; the RNG is an OMPL RNG created here
    (so it follows ``ou.RNG.setSeed``)."""

    def __init__(self, si: oc.SpaceInformation, goal_xy: np.ndarray, radius: float) -> None:
        super().__init__(si)
        self.goal_xy = (float(goal_xy[0]), float(goal_xy[1]))
        self.radius = float(radius)
        self.setThreshold(self.radius)
        self._rng = ou.RNG()

    def distanceGoal(self, state: ob.State) -> float:
        se2 = state[0]
        return math.hypot(se2.getX() - self.goal_xy[0], se2.getY() - self.goal_xy[1])

    def sampleGoal(self, state: ob.State) -> None:
        rng = self._rng
        r = self.radius * math.sqrt(rng.uniform01())
        a = rng.uniformReal(-math.pi, math.pi)
        se2 = state[0]
        se2.setXY(self.goal_xy[0] + r * math.cos(a), self.goal_xy[1] + r * math.sin(a))
        se2.setYaw(rng.uniformReal(-math.pi, math.pi))
        self.sample_rest(state[1], rng)

    def sample_rest(self, rv, rng: ou.RNG) -> None:
        """Fill the R^k part of a goal state."""
        raise NotImplementedError

    def maxSampleCount(self) -> int:
        return 2**31 - 1


class CarGoalRegion(XYGoalRegion):
    """:class:`XYGoalRegion` for the car: ``(v, D, delta)`` uniform within their bounds."""

    def __init__(
        self, si: oc.SpaceInformation, goal_xy: np.ndarray, radius: float, velocity_low, velocity_high
    ) -> None:
        super().__init__(si, goal_xy, radius)
        self._vlo = [float(v) for v in velocity_low]
        self._vhi = [float(v) for v in velocity_high]

    def sample_rest(self, rv, rng: ou.RNG) -> None:
        for i in range(3):
            rv[i] = rng.uniformReal(self._vlo[i], self._vhi[i])


@dataclass
class OmplSE2Setup:
    """An OMPL ``oc.SimpleSetup`` for one :class:`Problem` of a robot whose OMPL state is
    SE2 x R^k (the first three state entries are x, y, yaw), with conversion helpers.

    Attributes: ``problem``, ``settings``, ``checker`` (the collision checker in use), ``space``
    (compound state space), ``control_space``, ``si`` (``oc.SpaceInformation``), ``ss``
    (``oc.SimpleSetup``, start and goal set), ``goal`` (an :class:`XYGoalRegion`), ``substeps``
    (``dt`` steps per propagation step) and ``counters`` (``propagations``: propagator calls,
    ``checked_propagations``: those the collision checker was asked about, ``validity_checks``:
    checker calls that were not answered from the propagator's cache). Subclasses give the
    static ``to_list(state)`` and ``write(state, x)`` (plain-float fast paths for callbacks).
    """

    problem: Problem
    settings: Any
    checker: CollisionChecker
    space: ob.CompoundStateSpace
    control_space: oc.RealVectorControlSpace
    si: oc.SpaceInformation
    ss: oc.SimpleSetup
    goal: XYGoalRegion
    substeps: int
    counters: dict[str, int] = field(
        default_factory=lambda: {"propagations": 0, "checked_propagations": 0, "validity_checks": 0}
    )
    _keep: list[Any] = field(default_factory=list, repr=False)

    @property
    def pdef(self) -> ob.ProblemDefinition:
        return self.ss.getProblemDefinition()

    @property
    def dt(self) -> float:
        return self.problem.robot.dt

    @property
    def state_dim(self) -> int:
        return self.problem.robot.state_dim

    # ------------------------------------------------------------------ conversion
    @staticmethod
    def to_list(state: ob.State) -> list[float]:
        raise NotImplementedError

    @staticmethod
    def write(state: ob.State, x) -> ob.State:
        raise NotImplementedError

    def to_array(self, state: ob.State) -> np.ndarray:
        """OMPL state -> numpy ``(state_dim,)``."""
        return np.array(self.to_list(state))

    def to_state(self, x: np.ndarray) -> ob.State:
        """numpy ``(state_dim,)`` -> a new OMPL state (kept alive as long as this set-up)."""
        x = np.asarray(x, dtype=float)
        robot = self.problem.robot
        if x.shape != (self.state_dim,):
            raise ValueError(
                f"a {robot.name} state is ({self.state_dim},) = [{', '.join(robot.state_names)}], got shape {x.shape}"
            )
        s = self.si.allocState()
        self._keep.append(s)
        return self.write(s, x)

    def control_array(self, control: oc.Control) -> np.ndarray:
        """OMPL control -> numpy ``(2,)``."""
        return np.array([control[0], control[1]])

    def path_arrays(self, path: oc.PathControl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unpack a control path: states ``(n, state_dim)``, controls ``(n-1, 2)``, and each
        control's duration in ``dt`` steps ``(n-1,)`` int."""
        states = np.array([self.to_list(s) for s in path.getStates()]).reshape(-1, self.state_dim)
        controls = np.array([[c[0], c[1]] for c in path.getControls()]).reshape(-1, 2)
        steps = np.rint(np.asarray(path.getControlDurations(), dtype=float) / self.dt).astype(np.int64)
        return states, controls, steps

    def path_controls(self, path: oc.PathControl) -> np.ndarray:
        """The path's controls re-sampled at ``dt``: a control lasting k steps becomes k rows
        ``(T, 2)``."""
        _, controls, steps = self.path_arrays(path)
        return np.repeat(controls, steps, axis=0)

    def path_from_arrays(self, states: np.ndarray, controls: np.ndarray, merge: bool = True) -> oc.PathControl:
        """Build an ``oc.PathControl`` from ``states`` ``(T+1, state_dim)`` and ``controls``
        ``(T, 2)`` at ``dt``. With ``merge``, runs of identical consecutive controls become one
        control whose duration is the run length times ``dt``.

        OMPL's ``PathControl.check()`` re-propagates each control for ``round(duration /
        propagation_step)`` steps, so it checks these paths exactly only when every duration is a
        multiple of the propagation step (always so when the propagation step is ``dt``).
        """
        states = np.asarray(states, dtype=float)
        controls = np.asarray(controls, dtype=float)
        n = self.state_dim
        if states.ndim != 2 or states.shape[1] != n or controls.shape != (len(states) - 1, 2):
            raise ValueError(f"expected states (T+1, {n}) and controls (T, 2), got {states.shape} and {controls.shape}")
        T = len(controls)
        if merge and T:
            change = np.any(controls[1:] != controls[:-1], axis=1)
            starts = np.concatenate([[0], np.nonzero(change)[0] + 1])
        else:
            starts = np.arange(T)
        ends = np.concatenate([starts[1:], [T]]).astype(np.int64)
        path = oc.PathControl(self.si)
        scratch = self.si.allocState()
        u = self.si.allocControl()
        self._keep += [scratch, u]
        path.append(self.write(scratch, states[0]))
        for a, b in zip(starts, ends):
            u[0], u[1] = float(controls[a, 0]), float(controls[a, 1])
            path.append(self.write(scratch, states[b]), u, float((b - a) * self.dt))
        return path


@dataclass
class OmplCarSetup(OmplSE2Setup):
    """:class:`OmplSE2Setup` for the car: SE2 x R^3 (v, D, delta). ``checked_propagations`` counts
    the propagations the clearance broad phase could not clear."""

    @staticmethod
    def to_list(state: ob.State) -> list[float]:
        """OMPL state -> ``[x, y, yaw, v, D, delta]`` (plain floats)."""
        se2, rv = state[0], state[1]
        return [se2.getX(), se2.getY(), se2.getYaw(), rv[0], rv[1], rv[2]]

    @staticmethod
    def write(state: ob.State, x) -> ob.State:
        """Write ``x`` ``(6,)`` into the OMPL ``state`` in place and return it."""
        se2, rv = state[0], state[1]
        se2.setXY(float(x[0]), float(x[1]))
        se2.setYaw(float(x[2]))
        rv[0] = float(x[3])
        rv[1] = float(x[4])
        rv[2] = float(x[5])
        return state


def _space(problem: Problem, settings: OmplCarSettings) -> ob.CompoundStateSpace:
    x0, x1, y0, y1 = problem.world.bounds
    se2 = ob.SE2StateSpace()
    b = ob.RealVectorBounds(2)
    b.setLow(0, x0)
    b.setHigh(0, x1)
    b.setLow(1, y0)
    b.setHigh(1, y1)
    se2.setBounds(b)
    vel = ob.RealVectorStateSpace(3)
    vb = ob.RealVectorBounds(3)
    for i, (lo, hi) in enumerate(zip(problem.robot.velocity_low, problem.robot.velocity_high)):
        vb.setLow(i, float(lo))
        vb.setHigh(i, float(hi))
    vel.setBounds(vb)
    space = ob.CompoundStateSpace()
    space.addSubspace(se2, settings.se2_weight)
    space.addSubspace(vel, settings.velocity_weight)
    # xy of the SE2 component: SE2's own default projection, reached through subspace 0
    space.registerDefaultProjection(ob.SubspaceProjectionEvaluator(space, 0))
    return space


def _clearance_rows(checker: CollisionChecker) -> tuple[list[bytes], float]:
    """Per pixel of the checker's map, 1 where any footprint centred there is certainly free (pure
    Python rows, for per-state lookups in the propagator), and the pixel size (m)."""
    from envs.pybullet_world import ClearanceField  # numpy only; the module also loads pybullet

    # a little beyond the circumradius, so checkers that inflate the footprint (PyBullet's margin) agree
    field_ = ClearanceField(checker.world, checker.footprint.circumradius + 1e-3, subdivisions=8)
    clear = field_.lower > field_.radius  # certainly free (ClearanceField.lower: a lower bound on clearance)
    return [bytes(row) for row in clear.astype(np.uint8)], field_.pixel


def control_space_information(problem: Problem, space: ob.StateSpace, settings: Any, label: str
                              ) -> tuple[int, oc.RealVectorControlSpace, oc.SpaceInformation, oc.SimpleSetup]:
    """``(substeps, control space, space information, simple setup)`` for ``problem.robot``: the
    control space bounded by the robot's control bounds; ``settings.propagation_step`` must be a
    whole multiple of the robot's dt (``label`` names the settings class in the error)."""
    robot = problem.robot
    ratio = settings.propagation_step / robot.dt
    substeps = round(ratio)
    if substeps < 1 or abs(ratio - substeps) > 1e-9:
        raise ValueError(
            f"{label}.propagation_step ({settings.propagation_step} s) must be a whole multiple "
            f"of the {robot.name}'s dt ({robot.dt} s)"
        )
    cspace = oc.RealVectorControlSpace(space, robot.control_dim)
    cb = ob.RealVectorBounds(robot.control_dim)
    for i in range(robot.control_dim):
        cb.setLow(i, float(robot.control_low[i]))
        cb.setHigh(i, float(robot.control_high[i]))
    cspace.setBounds(cb)
    si = oc.SpaceInformation(space, cspace)
    return substeps, cspace, si, oc.SimpleSetup(si)


def first_invalid(poses: np.ndarray, collides, bounds: tuple[float, float, float, float]) -> int:
    """Index of the first pose ``(n, 3)`` that collides or leaves the map ``bounds``, -1 if none."""
    x_lo, x_hi, y_lo, y_hi = bounds
    bad = collides(poses)
    bad |= (poses[:, 0] < x_lo) | (poses[:, 0] > x_hi) | (poses[:, 1] < y_lo) | (poses[:, 1] > y_hi)
    return int(np.argmax(bad)) if bad.any() else -1


class PropagationCache:
    """The propagator has always just checked the state it returns: it records the answer here
    so that the validity check OMPL makes right after costs nothing (:meth:`validity_checker`)."""

    def __init__(self) -> None:
        self.key: tuple[float, float, float] | None = None
        self.free = True

    def record(self, result: ob.State, free: bool) -> None:
        se2 = result[0]  # read back what OMPL stored, so the key matches the checker's view
        self.key, self.free = (se2.getX(), se2.getY(), se2.getYaw()), free

    def validity_checker(self, si: oc.SpaceInformation, collides, counters: dict[str, int]):
        def is_valid(state: ob.State) -> bool:
            se2 = state[0]
            key = (se2.getX(), se2.getY(), se2.getYaw())
            if key == self.key:
                return self.free and si.satisfiesBounds(state)
            counters["validity_checks"] += 1
            if not si.satisfiesBounds(state):
                return False
            return not bool(collides(np.array([key]))[0])

        return is_valid


def make_car_setup(
    problem: Problem,
    settings: OmplCarSettings | None = None,
    checker: CollisionChecker | None = None,
) -> OmplCarSetup:
    """An :class:`OmplCarSetup` for ``problem`` (start and goal set, no planner chosen).

    ``checker`` defaults to the analytic checker of ``problem.world`` with the car's footprint;
    any :class:`CollisionChecker` works (e.g. ``make_checker(world, backend="pybullet")``).
    Call ``ou.RNG.setSeed`` before this for a deterministic run.
    """
    settings = settings if settings is not None else OmplCarSettings()
    robot = problem.robot
    checker = checker if checker is not None else make_checker(problem.world, robot.footprint)
    space = _space(problem, settings)
    substeps, cspace, si, ss = control_space_information(problem, space, settings, "OmplCarSettings")
    bounds = problem.world.bounds
    dt = robot.dt
    step = robot.step_scalar
    collides = checker.collides
    counters = {"propagations": 0, "checked_propagations": 0, "validity_checks": 0}
    cache = PropagationCache()

    clear_rows, pixel = _clearance_rows(checker) if settings.broad_phase else (None, 1.0)
    n_rows = len(clear_rows) if clear_rows is not None else 0
    n_cols = len(clear_rows[0]) if n_rows else 0
    half_w, half_h = checker.world.width_m / 2, checker.world.height_m / 2

    def all_clear(traj: list[list[float]]) -> bool:
        if clear_rows is None:
            return False
        for p in traj:
            c = (p[0] + half_w) / pixel
            r = (half_h - p[1]) / pixel
            if not (0 <= r < n_rows and 0 <= c < n_cols and clear_rows[int(r)][int(c)]):
                return False
        return True

    def propagate(start: ob.State, control: oc.Control, duration: float, result: ob.State) -> None:
        counters["propagations"] += 1
        x = OmplCarSetup.to_list(start)
        u = (control[0], control[1])
        n = max(1, round(duration / dt))
        traj = []
        for _ in range(n):
            x = step(x, u)
            traj.append(x)
        bad = -1
        if not all_clear(traj):
            counters["checked_propagations"] += 1
            bad = first_invalid(np.array(traj), collides, bounds)
            if bad >= 0:
                x = traj[bad]  # the first colliding sub-step: OMPL will reject it
        OmplCarSetup.write(result, x)
        cache.record(result, bad < 0)

    is_valid = cache.validity_checker(si, collides, counters)
    si.setStatePropagator(propagate)
    si.setStateValidityChecker(is_valid)
    si.setPropagationStepSize(settings.propagation_step)
    si.setMinMaxControlDuration(settings.min_control_steps, settings.max_control_steps)

    goal = CarGoalRegion(si, problem.goal, problem.goal_radius, robot.velocity_low, robot.velocity_high)
    setup = OmplCarSetup(problem, settings, checker, space, cspace, si, ss, goal, substeps, counters)
    setup._keep += [propagate, is_valid]
    ss.setStartState(setup.to_state(problem.start))
    ss.setGoal(goal)
    return setup
