"""Any registered robot as an OMPL control problem (ompl==2.0.1, nanobind bindings).

:func:`make_setup` builds, for a :class:`~envs.problem.Problem`, everything OMPL's control
planners need, from the robot and its registered :class:`~envs.registry.OmplDefaults`:

- state space: a compound of SE2 ``(x, y, yaw)`` (map bounds, weight ``pose_weight``), then the
  remaining real components as one R^k (weight ``rest_weight``; bounds from ``OmplDefaults.rest_bounds``,
  else the robot's ``state_low`` / ``state_high``, else +-:data:`UNBOUNDED`: OMPL needs finite
  bounds) and one SO2 per remaining angle component (the robot's ``angle_indices``;
  weight ``rest_weight``), with the xy projection registered as the default projection (KPIECE1
  needs one). The car: SE2 x R^3 ``(v, D, delta)`` weights 1 / 0.3; the racecar: SE2 x R^21
  weights 1 / 0.01 (its wheel angles grow without bound and would swamp distances);
- control space: R^C within the robot's control bounds;
- a state propagator that advances the robot ``duration`` control periods of ``robot.dt`` and
  checks the footprint at EVERY period; on the first colliding (or out-of-map) state it stops and
  returns that state, which the validity checker then rejects. OMPL checks validity only at the end
  of a propagation step, so without this most OMPL paths cut through wall corners between steps
  (see docs/platform.md). It steps with the robot's optional ``step_scalar(x, u) -> x`` (one
  ``dt`` on plain floats: the car's fast path for per-state callbacks) when the robot has one,
  else with :meth:`Robot.rollout` for N = 1 (the racecar's physics);
- ``broad_phase``: before asking the collision checker, the propagator looks the positions up in a
  clearance table (``envs.pybullet_world.ClearanceField``, exact certificates): a motion whose
  positions all lie farther than the footprint's circumradius from every wall is free. Only
  motions near a wall reach the checker; the answers are the same;
- a validity checker from the same :class:`~envs.collision.CollisionChecker` (analytic by default)
  plus the state-space bounds;
- :class:`XYGoalRegion`, the problem's goal region (a disc on xy distance, or a goal state in the
  robot's metric) with threshold = its tolerance; in a disc goal, the components beyond the pose of
  a sampled goal state are drawn uniformly within their bounds or set to the robot's rest state
  (``OmplDefaults.goal_rest``).

State conversion: :meth:`OmplSetup.to_array` (OMPL -> ``(S,)`` numpy) and
:meth:`OmplSetup.to_state` (numpy -> OMPL); :meth:`OmplSetup.path_arrays` unpacks an
``oc.PathControl`` and :meth:`OmplSetup.path_from_arrays` builds one.

Traps of these bindings handled here (docs/platform.md): seed with ``ou.RNG.setSeed`` before
calling :func:`make_setup` (the goal sampler draws its own RNG at construction); never call
``pdef.getStartState`` (it hands ownership to Python: double free at exit); do not ask the default
projection for anything before ``ss.setup()`` (the subspace projection segfaults until set up).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ompl import base as ob
from ompl import control as oc
from ompl import util as ou

from envs.collision import CollisionChecker, make_checker, robot_collides
from envs.goal import GoalRegion, StateGoal
from envs.problem import Problem
from envs.registry import robot_spec
from envs.world import GridMap

__all__ = [
    "UNBOUNDED",
    "OmplSettings",
    "OmplSetup",
    "XYGoalRegion",
    "control_space_information",
    "first_invalid",
    "make_setup",
    "ompl_seed",
    "quiet_ompl",
]

UNBOUNDED = 1e6
"""OMPL bound (+-) of a real state component for which neither the robot's registered
``OmplDefaults.rest_bounds`` nor its ``state_low`` / ``state_high`` give one."""


def check_propagation_settings(settings: Any, positive: tuple[str, ...] = ()) -> None:
    """Validate an OMPL settings dataclass: ``propagation_step`` > 0, integer control durations
    ``1 <= min_control_steps <= max_control_steps``, and the ``positive`` fields > 0 (or None);
    errors name the class and field."""
    label = type(settings).__name__
    if not settings.propagation_step > 0:
        raise ValueError(f"{label}.propagation_step must be positive, got {settings.propagation_step}")
    lo, hi = settings.min_control_steps, settings.max_control_steps
    if not (isinstance(lo, int) and lo >= 1):
        raise ValueError(f"{label}.min_control_steps must be an int >= 1, got {lo!r}")
    if not (isinstance(hi, int) and hi >= lo):
        raise ValueError(f"{label}.max_control_steps must be an int >= min_control_steps ({lo}), got {hi!r}")
    for name in positive:
        v = getattr(settings, name)
        if v is not None and not v > 0:
            raise ValueError(f"{label}.{name} must be positive, got {v}")


@dataclass(frozen=True)
class OmplSettings:
    """How a robot is posed to OMPL; defaults are the car's set-up measured in docs/platform.md.

    ``propagation_step`` (s) must be a whole multiple of the robot's ``dt``; controls last
    ``min_control_steps``..``max_control_steps`` propagation steps (0.1-1.0 s by default).
    ``pose_weight`` / ``rest_weight`` weigh the SE2 part and the other components in OMPL's state
    distance (``rest_weight`` None: the robot's registered ``OmplDefaults.rest_weight``: the car
    0.3, the racecar 0.01). ``broad_phase``: the clearance-table shortcut of the propagator (see
    the module docstring; same answers, about 2-3x cheaper per propagation for the car).
    """

    propagation_step: float = 0.1
    min_control_steps: int = 1
    max_control_steps: int = 10
    pose_weight: float = 1.0
    rest_weight: float | None = None
    broad_phase: bool = True

    def __post_init__(self) -> None:
        check_propagation_settings(self, ("pose_weight", "rest_weight"))


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


# ---------------------------------------------------------------------- state layout
class StateLayout:
    """Where each robot state component lives in the OMPL compound state: SE2 (subspace 0) holds
    components 0-2; ``real`` (subspace 1 when any) the other non-angle components, in order; each
    of ``angles`` one SO2 subspace after it. ``to_list`` / ``write`` convert plain floats fast
    (they run in every OMPL callback)."""

    def __init__(self, state_dim: int, angle_indices: tuple[int, ...]) -> None:
        self.state_dim = int(state_dim)
        self.angles = tuple(i for i in range(3, state_dim) if i in angle_indices)
        self.real = tuple(i for i in range(3, state_dim) if i not in angle_indices)
        first_so2 = 2 if self.real else 1
        self.so2_subspace = {i: first_so2 + k for k, i in enumerate(self.angles)}
        contiguous = not self.angles
        n_real, S = len(self.real), self.state_dim

        if contiguous:  # the car and racecar: SE2 x R^(S-3), in state order
            def to_list(state: ob.State) -> list[float]:
                se2 = state[0]
                out = [se2.getX(), se2.getY(), se2.getYaw()]
                if n_real:
                    rv = state[1]
                    out += [rv[k] for k in range(n_real)]
                return out

            def write(state: ob.State, x) -> ob.State:
                se2 = state[0]
                se2.setXY(float(x[0]), float(x[1]))
                se2.setYaw(float(x[2]))
                if n_real:
                    rv = state[1]
                    for k in range(n_real):
                        rv[k] = float(x[3 + k])
                return state
        else:
            real, so2 = self.real, tuple(self.so2_subspace.items())

            def to_list(state: ob.State) -> list[float]:
                se2 = state[0]
                out = [0.0] * S
                out[0], out[1], out[2] = se2.getX(), se2.getY(), se2.getYaw()
                if real:
                    rv = state[1]
                    for k, i in enumerate(real):
                        out[i] = rv[k]
                for i, sub in so2:
                    out[i] = state[sub].value
                return out

            def write(state: ob.State, x) -> ob.State:
                se2 = state[0]
                se2.setXY(float(x[0]), float(x[1]))
                se2.setYaw(float(x[2]))
                if real:
                    rv = state[1]
                    for k, i in enumerate(real):
                        rv[k] = float(x[i])
                for i, sub in so2:
                    # SO2 holds [-pi, pi]: wrap like the robots wrap their angles (only when needed, so
                    # that an angle already in range converts both ways bit for bit)
                    a = float(x[i])
                    state[sub].value = a if -math.pi <= a < math.pi else (a + math.pi) % (2 * math.pi) - math.pi
                return state

        self.to_list: Callable[[ob.State], list[float]] = to_list
        self.write: Callable[[ob.State, Any], ob.State] = write


def rest_bounds(robot: Any) -> tuple[np.ndarray, np.ndarray]:
    """Finite OMPL bounds ``(S - 3,)`` x 2 of the state components beyond the pose (see
    :class:`~envs.registry.OmplDefaults`)."""
    n = robot.state_dim - 3
    fn = robot_spec(robot.name).ompl.rest_bounds
    if fn is not None:
        lo, hi = fn(robot)
    elif getattr(robot, "state_low", None) is not None and getattr(robot, "state_high", None) is not None:
        lo, hi = np.asarray(robot.state_low, dtype=float)[3:], np.asarray(robot.state_high, dtype=float)[3:]
    else:
        lo, hi = np.full(n, -UNBOUNDED), np.full(n, UNBOUNDED)
    lo = np.where(np.isfinite(lo), lo, -UNBOUNDED).astype(float)
    hi = np.where(np.isfinite(hi), hi, UNBOUNDED).astype(float)
    if lo.shape != (n,) or hi.shape != (n,) or np.any(lo > hi):
        raise ValueError(f"robot {robot.name!r}: OMPL bounds of the state beyond the pose must be two ({n},) arrays "
                         f"with low <= high, got {lo} and {hi}")
    return lo, hi


def _space(problem: Problem, layout: StateLayout, pose_weight: float, rest_weight: float,
           lo: np.ndarray, hi: np.ndarray) -> ob.CompoundStateSpace:
    x0, x1, y0, y1 = problem.world.extent
    se2 = ob.SE2StateSpace()
    b = ob.RealVectorBounds(2)
    b.setLow(0, x0)
    b.setHigh(0, x1)
    b.setLow(1, y0)
    b.setHigh(1, y1)
    se2.setBounds(b)
    space = ob.CompoundStateSpace()
    space.addSubspace(se2, pose_weight)
    if layout.real:
        rest = ob.RealVectorStateSpace(len(layout.real))
        rb = ob.RealVectorBounds(len(layout.real))
        for k, i in enumerate(layout.real):
            rb.setLow(k, float(lo[i - 3]))
            rb.setHigh(k, float(hi[i - 3]))
        rest.setBounds(rb)
        space.addSubspace(rest, rest_weight)
    for _ in layout.angles:
        space.addSubspace(ob.SO2StateSpace(), rest_weight)
    # xy of the SE2 component: SE2's own default projection, reached through subspace 0
    space.registerDefaultProjection(ob.SubspaceProjectionEvaluator(space, 0))
    return space


# ---------------------------------------------------------------------- goal
class XYGoalRegion(ob.GoalSampleableRegion):
    """The problem's goal region (``problem.goal_region``, ``envs.goal``) as an OMPL goal, with
    threshold = the region's tolerance.

    A disc goal: ``distanceGoal`` is the xy distance (m) to its centre; ``sampleGoal`` draws a
    position uniformly in the disc and a uniform heading, then the other components with
    ``fill_rest(state, rng)``. A state goal: ``distanceGoal`` is the robot's weighted, angle-aware
    distance (on plain floats, as :func:`envs.goal.weighted_distance` computes it); ``sampleGoal``
    writes the goal state itself. The RNG is an OMPL RNG created here (so it follows
    ``ou.RNG.setSeed``). ``to_list`` / ``write``: the set-up's state conversions.
    """

    def __init__(self, si: oc.SpaceInformation, region: GoalRegion, to_list: Callable, write: Callable,
                 fill_rest: Callable[[ob.State, ou.RNG], None]) -> None:
        super().__init__(si)
        self.region = region
        self.goal_xy = (float(region.position[0]), float(region.position[1]))
        self.radius = float(region.position_radius)
        """Every goal state lies within this xy distance (m) of ``goal_xy`` (a disc's radius)."""
        self.setThreshold(float(region.tolerance))
        self._rng = ou.RNG()
        self._to_list, self._write, self._fill_rest = to_list, write, fill_rest
        self._state: list[float] | None = None
        if isinstance(region, StateGoal):
            self._state = region.state.tolist()
            self._w0 = float(region.weights[0])
            # (component, weight, is an angle) for every weighted component beyond the position
            self._terms = [(i, float(w), i in region.angle_indices)
                           for i, w in enumerate(region.weights[1:], start=2) if w]

    def distanceGoal(self, state: ob.State) -> float:
        if self._state is None:
            se2 = state[0]
            return math.hypot(se2.getX() - self.goal_xy[0], se2.getY() - self.goal_xy[1])
        x, g = self._to_list(state), self._state
        d = self._w0 * math.hypot(x[0] - g[0], x[1] - g[1])
        for i, w, angle in self._terms:
            diff = x[i] - g[i]
            if angle:
                diff = (diff + math.pi) % (2 * math.pi) - math.pi
            d += w * abs(diff)
        return d

    def sampleGoal(self, state: ob.State) -> None:
        if self._state is not None:
            self._write(state, self._state)
            return
        rng = self._rng
        r = self.radius * math.sqrt(rng.uniform01())
        a = rng.uniformReal(-math.pi, math.pi)
        se2 = state[0]
        se2.setXY(self.goal_xy[0] + r * math.cos(a), self.goal_xy[1] + r * math.sin(a))
        se2.setYaw(rng.uniformReal(-math.pi, math.pi))
        self._fill_rest(state, rng)

    def maxSampleCount(self) -> int:
        return 2**31 - 1


def _goal_filler(robot: Any, layout: StateLayout, lo: np.ndarray, hi: np.ndarray
                 ) -> Callable[[ob.State, ou.RNG], None]:
    """How a goal state's components beyond the pose are set (``OmplDefaults.goal_rest``)."""
    real = layout.real
    so2 = tuple(layout.so2_subspace.items())
    if robot_spec(robot.name).ompl.goal_rest == "uniform":
        bounds = [(float(lo[i - 3]), float(hi[i - 3])) for i in real]

        def fill(state: ob.State, rng: ou.RNG) -> None:
            if real:
                rv = state[1]
                for k, (a, b) in enumerate(bounds):
                    rv[k] = rng.uniformReal(a, b)
            for _, sub in so2:
                state[sub].value = rng.uniformReal(-math.pi, math.pi)
    else:
        rest = [float(v) for v in np.asarray(robot.rest_state(0.0, 0.0, 0.0), dtype=float)]
        real_vals = [rest[i] for i in real]
        so2_vals = [(sub, (rest[i] + math.pi) % (2 * math.pi) - math.pi) for i, sub in so2]

        def fill(state: ob.State, rng: ou.RNG) -> None:
            if real:
                rv = state[1]
                for k, v in enumerate(real_vals):
                    rv[k] = v
            for sub, v in so2_vals:
                state[sub].value = v

    return fill


# ---------------------------------------------------------------------- the set-up
@dataclass
class OmplSetup:
    """An OMPL ``oc.SimpleSetup`` for one :class:`Problem`, with conversion helpers.

    Attributes: ``problem``, ``settings``, ``checker`` (the collision checker in use), ``space``
    (compound state space), ``control_space``, ``si`` (``oc.SpaceInformation``), ``ss``
    (``oc.SimpleSetup``, start and goal set), ``goal`` (an :class:`XYGoalRegion`), ``substeps``
    (``dt`` steps per propagation step), ``layout`` (:class:`StateLayout`) and ``counters``
    (``propagations``: propagator calls, ``checked_propagations``: those the collision checker was
    asked about (the rest were cleared by the broad phase), ``validity_checks``: checker calls
    that were not answered from the propagator's cache).
    """

    problem: Problem
    settings: OmplSettings
    checker: CollisionChecker
    space: ob.CompoundStateSpace
    control_space: oc.RealVectorControlSpace
    si: oc.SpaceInformation
    ss: oc.SimpleSetup
    goal: XYGoalRegion
    substeps: int
    layout: StateLayout
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

    @property
    def control_dim(self) -> int:
        return self.problem.robot.control_dim

    # ------------------------------------------------------------------ conversion
    def to_list(self, state: ob.State) -> list[float]:
        """OMPL state -> the ``state_dim`` components in the robot's order (plain floats)."""
        return self.layout.to_list(state)

    def write(self, state: ob.State, x) -> ob.State:
        """Write ``x`` ``(state_dim,)`` into the OMPL ``state`` in place and return it."""
        return self.layout.write(state, x)

    def to_array(self, state: ob.State) -> np.ndarray:
        """OMPL state -> numpy ``(state_dim,)``."""
        return np.array(self.layout.to_list(state))

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
        return self.layout.write(s, x)

    def control_array(self, control: oc.Control) -> np.ndarray:
        """OMPL control -> numpy ``(control_dim,)``."""
        return np.array([control[i] for i in range(self.control_dim)])

    def path_arrays(self, path: oc.PathControl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unpack a control path: states ``(n, state_dim)``, controls ``(n-1, control_dim)``, and
        each control's duration in ``dt`` steps ``(n-1,)`` int."""
        C = self.control_dim
        states = np.array([self.layout.to_list(s) for s in path.getStates()]).reshape(-1, self.state_dim)
        controls = np.array([[c[i] for i in range(C)] for c in path.getControls()]).reshape(-1, C)
        steps = np.rint(np.asarray(path.getControlDurations(), dtype=float) / self.dt).astype(np.int64)
        return states, controls, steps

    def path_controls(self, path: oc.PathControl) -> np.ndarray:
        """The path's controls re-sampled at ``dt``: a control lasting k steps becomes k rows
        ``(T, control_dim)``."""
        _, controls, steps = self.path_arrays(path)
        return np.repeat(controls, steps, axis=0)

    def path_from_arrays(self, states: np.ndarray, controls: np.ndarray, merge: bool = True) -> oc.PathControl:
        """Build an ``oc.PathControl`` from ``states`` ``(T+1, state_dim)`` and ``controls``
        ``(T, control_dim)`` at ``dt``. With ``merge``, runs of identical consecutive controls become
        one control whose duration is the run length times ``dt``.

        OMPL's ``PathControl.check()`` re-propagates each control for ``round(duration /
        propagation_step)`` steps, so it checks these paths exactly only when every duration is a
        multiple of the propagation step (always so when the propagation step is ``dt``).
        """
        states = np.asarray(states, dtype=float)
        controls = np.asarray(controls, dtype=float)
        n, C = self.state_dim, self.control_dim
        if states.ndim != 2 or states.shape[1] != n or controls.shape != (len(states) - 1, C):
            raise ValueError(f"expected states (T+1, {n}) and controls (T, {C}), got {states.shape} and {controls.shape}")
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
        write = self.layout.write
        path.append(write(scratch, states[0]))
        for a, b in zip(starts, ends):
            for i in range(C):
                u[i] = float(controls[a, i])
            path.append(write(scratch, states[b]), u, float((b - a) * self.dt))
        return path


def _clearance_rows(checker: CollisionChecker) -> tuple[list[bytes], float]:
    """Per pixel of the checker's map, 1 where any of the checker's bodies centred there is certainly
    free (pure Python rows, for per-body-centre lookups in the propagator), and the pixel size (m)."""
    from envs.pybullet_world import ClearanceField  # numpy only; the module also loads pybullet

    # a little beyond the largest circumradius, so checkers that inflate the bodies (PyBullet's margin) agree
    radius = max(b.circumradius for b in checker.bodies) + 1e-3
    field_ = ClearanceField(checker.world, radius, subdivisions=8)
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


def first_invalid(states: np.ndarray, collides, bounds: tuple[float, float, float, float]) -> int:
    """Index of the first state ``(n, S)`` that collides (``collides``: states -> ``(n,)`` bool) or
    whose reference point leaves the map ``bounds``, -1 if none."""
    x_lo, x_hi, y_lo, y_hi = bounds
    bad = collides(states)
    bad |= (states[:, 0] < x_lo) | (states[:, 0] > x_hi) | (states[:, 1] < y_lo) | (states[:, 1] > y_hi)
    return int(np.argmax(bad)) if bad.any() else -1


class PropagationCache:
    """The propagator has always just checked the state it returns: it records the answer here
    so that the validity check OMPL makes right after costs nothing (:meth:`validity_checker`).

    States are keyed by their full vector (``to_list``), since the bodies of a multi-body robot
    (a trailer) follow from more than the pose."""

    def __init__(self, to_list) -> None:
        self.to_list = to_list
        self.key: tuple[float, ...] | None = None
        self.free = True

    def record(self, result: ob.State, free: bool) -> None:
        # read back what OMPL stored, so the key matches the checker's view
        self.key, self.free = tuple(self.to_list(result)), free

    def validity_checker(self, si: oc.SpaceInformation, collides, counters: dict[str, int]):
        def is_valid(state: ob.State) -> bool:
            key = tuple(self.to_list(state))
            if key == self.key:
                return self.free and si.satisfiesBounds(state)
            counters["validity_checks"] += 1
            if not si.satisfiesBounds(state):
                return False
            return not bool(collides(np.array([key]))[0])

        return is_valid


def make_setup(
    problem: Problem,
    settings: OmplSettings | None = None,
    checker: CollisionChecker | None = None,
) -> OmplSetup:
    """An :class:`OmplSetup` for ``problem`` (start and goal set, no planner chosen), for any
    registered robot (see the module docstring).

    ``checker`` defaults to the analytic checker of ``problem.world`` with the robot's footprint;
    any :class:`CollisionChecker` works (e.g. ``make_checker(world, backend="pybullet")``).
    Call ``ou.RNG.setSeed`` before this for a deterministic run.
    """
    settings = settings if settings is not None else OmplSettings()
    robot = problem.robot
    defaults = robot_spec(robot.name).ompl  # an unregistered robot: one line naming the registered ones
    rest_weight = settings.rest_weight if settings.rest_weight is not None else defaults.rest_weight
    checker = checker if checker is not None else make_checker(problem.world, robot.bodies)
    layout = StateLayout(robot.state_dim, tuple(int(i) for i in robot.angle_indices))
    lo, hi = rest_bounds(robot)
    space = _space(problem, layout, settings.pose_weight, rest_weight, lo, hi)
    substeps, cspace, si, ss = control_space_information(problem, space, settings, type(settings).__name__)
    bounds = problem.world.extent
    dt, C = robot.dt, robot.control_dim
    step = getattr(robot, "step_scalar", None)  # optional fast path on plain floats (the car's)
    rollout = robot.rollout
    one_body = len(robot.bodies) == 1
    pose = robot.pose if one_body else (lambda states: robot.footprint_poses(states).reshape(-1, 3))

    def collides(states: np.ndarray) -> np.ndarray:  # full states (n, S) -> (n,)
        return robot_collides(robot, checker, states)

    to_list, write = layout.to_list, layout.write
    counters = {"propagations": 0, "checked_propagations": 0, "validity_checks": 0}
    cache = PropagationCache(to_list)

    grid_world = isinstance(checker.world, GridMap)  # the broad phase's field is a grid map's
    clear_rows, pixel = _clearance_rows(checker) if settings.broad_phase and grid_world else (None, 1.0)
    n_rows = len(clear_rows) if clear_rows is not None else 0
    n_cols = len(clear_rows[0]) if n_rows else 0
    half_w, half_h = checker.world.width_m / 2, checker.world.height_m / 2

    def all_clear(centres) -> bool:  # body centres (x, y, ...), each with the largest body's clearance
        if clear_rows is None:
            return False
        for p in centres:
            c = (p[0] + half_w) / pixel
            r = (half_h - p[1]) / pixel
            if not (0 <= r < n_rows and 0 <= c < n_cols and clear_rows[int(r)][int(c)]):
                return False
        return True

    def propagate(start: ob.State, control: oc.Control, duration: float, result: ob.State) -> None:
        counters["propagations"] += 1
        n = max(1, round(duration / dt))
        if step is not None:
            x = to_list(start)
            u = tuple(control[i] for i in range(C))
            traj = []
            for _ in range(n):
                x = step(x, u)
                traj.append(x)
            # one body: its pose is the first three components (the Robot convention)
            poses = traj if one_body else pose(np.asarray(traj, dtype=float))
        else:
            u = np.empty((1, n, C))
            u[0, :] = [control[i] for i in range(C)]
            traj = rollout(np.array([to_list(start)]), u)[0, 1:]  # (n, S)
            poses = pose(traj)
            x = traj[-1]
        bad = -1
        if not all_clear(poses):
            counters["checked_propagations"] += 1
            bad = first_invalid(np.asarray(traj, dtype=float), collides, bounds)
            if bad >= 0:
                x = traj[bad]  # the first colliding step: OMPL will reject it
        write(result, x)
        cache.record(result, bad < 0)

    is_valid = cache.validity_checker(si, collides, counters)
    si.setStatePropagator(propagate)
    si.setStateValidityChecker(is_valid)
    si.setPropagationStepSize(settings.propagation_step)
    si.setMinMaxControlDuration(settings.min_control_steps, settings.max_control_steps)

    goal = XYGoalRegion(si, problem.goal_region, to_list, write, _goal_filler(robot, layout, lo, hi))
    setup = OmplSetup(problem, settings, checker, space, cspace, si, ss, goal, substeps, layout, counters)
    setup._keep += [propagate, is_valid]
    ss.setStartState(setup.to_state(problem.start))
    ss.setGoal(goal)
    return setup
